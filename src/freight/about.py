"""``python -m freight about``: the version, where the configuration came from, and every
cache store and queue connection with its address and whether it can be reached."""

from __future__ import annotations

import argparse
import platform
from typing import TYPE_CHECKING, Any

from freight import __version__
from freight.errors import FreightError

if TYPE_CHECKING:
    from freight.app import Application

__all__ = ["cmd_about", "register"]


def register(sub: Any) -> None:
    """Add ``about`` to ``sub`` (the result of ``add_subparsers()``)."""
    about = sub.add_parser("about", help="version, config source, stores and connections (reachable or not)")
    about.add_argument("--no-check", action="store_true", help="do not contact the servers")
    about.set_defaults(handler=cmd_about)


def _probe(check: bool, touch: Any) -> str:
    if not check:
        return "not checked"
    try:
        touch()
    except FreightError as exc:
        return f"UNREACHABLE: {exc}"
    return "reachable"


def cmd_about(args: argparse.Namespace, app: Application) -> int:
    """``about``: print what this application would use; exit 1 when something is unreachable."""
    check = not args.no_check
    lines = [
        f"freight {__version__} on Python {platform.python_version()}",
        f"config: {app.config_source}",
        f"cache stores (default {app.config['cache']['default']!r}):",
    ]
    down = 0
    cache = app.cache()
    for name in cache.names():
        try:
            repository = cache.store(name)
            where = repository.store.describe()
            state = _probe(check, lambda r=repository: r.has("freight:about"))
        except FreightError as exc:
            where, state = "?", f"UNUSABLE: {exc}"
        down += state.startswith("UN")
        lines.append(f"  {name}: {where} [{state}]")
    queue = app.queue()
    lines.append(f"queue connections (default {app.config['queue']['default']!r}):")
    for name in queue.names():
        try:
            connection = queue.connection(name)
            where = f"{connection.driver} {connection.describe()}"
            state = _probe(check, lambda c=connection: c.size(c.default_queue))
        except FreightError as exc:
            where, state = "?", f"UNUSABLE: {exc}"
        down += state.startswith("UN")
        lines.append(f"  {name}: {where} [{state}]")
    try:
        failed = queue.failed()
        state = _probe(check, failed.count)
        lines.append(f"failed-job store: {failed!r} [{state}]")
    except FreightError as exc:
        state = f"UNUSABLE: {exc}"
        lines.append(f"failed-job store: [{state}]")
    down += state.startswith("UN")
    print("\n".join(lines))
    return 1 if down else 0
