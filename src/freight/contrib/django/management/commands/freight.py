"""``manage.py freight <command> ...``: any ``python -m freight`` command, on the project's
Application (``settings.FREIGHT``), e.g. ``manage.py freight work --stop-when-empty``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from freight.cli import main

APP = "freight.contrib.django.app:freight_app"


class Command(BaseCommand):
    """Runs freight's command line with ``--app`` set to the project's Application."""

    help = "Run a freight command (work, failed, retry, cache:clear, ...) with settings.FREIGHT"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "freight_args", nargs=argparse.REMAINDER, help="a freight command and its options"
        )

    def run_from_argv(self, argv: list[str]) -> None:
        # freight parses its own options: Django's parser would reject e.g. --stop-when-empty
        code = main(["--app", APP, *argv[2:]])
        sys.exit(code)

    def handle(self, *args: Any, **options: Any) -> None:
        code = main(["--app", APP, *args, *options.get("freight_args", [])])
        if code:
            raise CommandError(f"freight exited with code {code}", returncode=code)
