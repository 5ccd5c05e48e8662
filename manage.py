#!/usr/bin/env python
"""Django's command-line utility for Berth."""
import os
import sys
from pathlib import Path

# platform/ is a source root (a package named "platform" would shadow the stdlib module).
sys.path.insert(0, str(Path(__file__).resolve().parent / "platform"))


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "berth.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
