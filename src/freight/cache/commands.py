"""The cache sub-commands of ``python -m freight``: cache:clear, cache:forget, cache:prune,
cache:table.

Each handler is ``handler(args, app) -> exit code``; ``app.cache()`` is the
CacheManager. A store name defaults to the configured default store.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING

from freight.errors import ConfigurationError

if TYPE_CHECKING:
    from freight.app import Application
    from freight.cache.manager import CacheManager

__all__ = ["clear", "forget", "prune", "register", "table"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the cache sub-commands to ``subparsers``."""
    p = subparsers.add_parser("cache:clear", help="remove every entry of a cache store (its prefix only)")
    p.add_argument("store", nargs="?", help="store name (default: the default store)")
    p.set_defaults(handler=clear)

    p = subparsers.add_parser("cache:forget", help="remove one key from a cache store")
    p.add_argument("key", help="the key to remove")
    p.add_argument("--store", help="store name (default: the default store)")
    p.set_defaults(handler=forget)

    p = subparsers.add_parser("cache:prune", help="delete expired entries (file and database stores)")
    p.add_argument("store", nargs="?", help="store name (default: the default store)")
    p.set_defaults(handler=prune)

    p = subparsers.add_parser("cache:table", help="create the database store's cache and lock tables")
    p.add_argument(
        "store",
        nargs="?",
        help="a database store (default: the default store if it is one, "
        "else the only configured database store)",
    )
    p.set_defaults(handler=table)


def clear(args: argparse.Namespace, app: Application) -> int:
    """``cache:clear [store]``."""
    cache = app.cache()
    name = args.store or cache.default_name()
    if not cache.store(name).flush():
        print(f"Cache store {name!r} could not be cleared.")
        return 1
    print(f"Cache store {name!r} cleared.")
    return 0


def forget(args: argparse.Namespace, app: Application) -> int:
    """``cache:forget KEY [--store S]``."""
    cache = app.cache()
    name = args.store or cache.default_name()
    if cache.store(name).forget(args.key):
        print(f"Key {args.key!r} removed from cache store {name!r}.")
    else:
        print(f"Key {args.key!r} was not in cache store {name!r}.")
    return 0


def prune(args: argparse.Namespace, app: Application) -> int:
    """``cache:prune [store]``."""
    cache = app.cache()
    name = args.store or cache.default_name()
    removed = cache.store(name).prune()
    print(f"Pruned {removed} expired entr{'y' if removed == 1 else 'ies'} from cache store {name!r}.")
    return 0


def table(args: argparse.Namespace, app: Application) -> int:
    """``cache:table [store]``: create the tables of a database store."""
    cache = app.cache()
    name = args.store or _database_store(cache)
    store = cache.store(name).store
    if not store.has_tables:
        raise ConfigurationError(
            f"cache store {name!r} uses the {store.driver!r} driver, which has no tables; "
            "cache:table only applies to stores with driver 'database'"
        )
    store.create_tables()
    print(f"Created the tables of cache store {name!r} ({store.describe()}).")
    return 0


def _database_store(cache: CacheManager) -> str:
    """The default store if it is a database store, else the only configured database store."""
    default = cache.config.get("default")
    items = cache.items
    databases = sorted(
        n for n, c in items.items() if isinstance(c, Mapping) and c.get("driver") == "database"
    )
    if default in databases:
        return str(default)
    if len(databases) == 1:
        return databases[0]
    if not databases:
        raise ConfigurationError(
            "no cache store uses the 'database' driver; configure one to create its tables"
        )
    raise ConfigurationError(
        f"several database cache stores are configured ({', '.join(databases)}); name one: cache:table STORE"
    )
