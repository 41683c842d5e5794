"""The ``python -m freight`` command line: global options and the sub-command registry.

Each subsystem registers its own sub-commands (``freight.cache.commands``,
``freight.queue.commands``); a handler is ``handler(args, app) -> exit code`` and
receives the Application built from ``--app``, ``--config`` or discovery.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from freight import __version__
from freight.app import Application
from freight.errors import FreightError
from freight.manager import import_object

__all__ = ["build_parser", "load_app", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered sub-command."""
    parser = argparse.ArgumentParser(
        prog="python -m freight",
        description="freight: Laravel-style caching and background jobs.",
    )
    parser.add_argument("--version", action="version", version=f"freight {__version__}")
    _add_common(parser, None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from freight import about, warmup
    from freight.cache import commands as cache_commands
    from freight.dashboard import server as dashboard_commands
    from freight.queue import commands as queue_commands
    from freight.queue import workflow_commands
    from freight.schedule import commands as schedule_commands

    queue_commands.register(sub)
    workflow_commands.register(sub)
    cache_commands.register(sub)
    schedule_commands.register(sub)
    dashboard_commands.register(sub)
    warmup.register(sub)
    about.register(sub)
    for command in sub.choices.values():  # the same options after the sub-command
        _add_common(command, argparse.SUPPRESS)
    return parser


def _add_common(parser: argparse.ArgumentParser, default: str | None) -> None:
    parser.add_argument(
        "--config", default=default, help="TOML config file (default: ./freight.toml or [tool.freight])"
    )
    parser.add_argument(
        "--app", default=default, help="import path 'module:attr' of an Application or a factory of one"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=default or False, help="log at DEBUG level"
    )


def load_app(args: argparse.Namespace) -> Application:
    """The Application named by ``--app``, else one from ``--config``, else discovery/defaults.

    The current directory is put on ``sys.path`` first, so ``--app`` and job classes
    named in payloads import from the project being run.
    """
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    app_path = getattr(args, "app", None) or os.environ.get("FREIGHT_APP")
    if app_path:
        obj = import_object(app_path)
        if not isinstance(obj, Application) and callable(obj):
            obj = obj()
        if not isinstance(obj, Application):
            raise FreightError(f"--app {app_path!r} is not a freight Application")
        return obj.make_current()
    return Application.from_config(getattr(args, "config", None))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # a supervisor re-runs it in each worker
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return int(handler(args, load_app(args)))
    except FreightError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
