#!/usr/bin/env python
"""Django's command-line utility for ImageFactory."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imagefactory.settings")
    from django.core.management import execute_from_command_line

    import imagefactory.celery  # noqa: F401 — commands that start builds dispatch through this app

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
