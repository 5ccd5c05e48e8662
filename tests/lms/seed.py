"""The platform's signing keys, written to LMS_STATE (python -m tests.lms.seed)."""

import os
from pathlib import Path

from tests.keys import rsa_key_pems

state = Path(os.environ["LMS_STATE"])
state.mkdir(parents=True, exist_ok=True)
private, public = rsa_key_pems()
(state / "private.pem").write_text(private)
(state / "public.pem").write_text(public)
