"""Download my work: the learner's home folder on every node, as one .tar.gz. It is packed on the
worker side and handed to the web process through the cache (the web process never talks to
Docker); a link lives for ten minutes."""

import gzip
import io
import secrets
import tarfile

from django.conf import settings
from django.core.cache import cache

from sandboxes import queues
from sandboxes.backends import get_backend
from sandboxes.backends.base import SandboxError
from sandboxes.models import LabSession

WORK_PATH = "/root"
TTL = 600  # seconds a packed download stays available


def key(token: str) -> str:
    return f"download:{token}"


def request_download(session: LabSession) -> str:
    token = secrets.token_urlsafe(16)
    cache.set(key(token), {"session": session.pk, "state": "packing"}, TTL)
    queues.send_to_host(queues.PACK_WORK, session.host, session.pk, token, expires=60)
    return token


def status(token: str, session_id: int) -> dict | None:
    entry = cache.get(key(token))
    return entry if entry and entry["session"] == session_id else None


def pack(session_id: int, token: str) -> None:
    session = LabSession.objects.select_related("lab").get(pk=session_id)
    limit = settings.SANDBOX_DOWNLOAD_MAX_MB * 2**20
    backend = get_backend(session.host)
    out = io.BytesIO()
    try:
        with tarfile.open(fileobj=out, mode="w:gz", compresslevel=6) as packed:
            for sandbox in session.sandboxes.filter(removed_at__isnull=True).order_by("node"):
                raw = backend.get_archive(sandbox.container_id, WORK_PATH, limit)
                with tarfile.open(fileobj=io.BytesIO(raw)) as work:
                    for member in work.getmembers():
                        source = work.extractfile(member) if member.isfile() else None
                        member.name = f"{sandbox.node}/{member.name}"  # node1/root/...
                        if member.islnk():
                            member.linkname = f"{sandbox.node}/{member.linkname}"
                        packed.addfile(member, source)
    except (SandboxError, tarfile.TarError, gzip.BadGzipFile) as e:
        message = getattr(e, "learner_message", "Your files could not be packed.")
        cache.set(key(token), {"session": session_id, "state": "failed", "message": message}, TTL)
        return
    data = out.getvalue()
    day = session.lab.lessons.values_list("day", flat=True).first()
    name = f"berth-day{day:02d}-work.tar.gz" if day else f"berth-{session.lab.slug}-work.tar.gz"
    cache.set(key(token), {"session": session_id, "state": "ready", "data": data, "name": name, "size": len(data)}, TTL)
