"""The one way freight loads its Lua scripts: a ``.lua`` file beside its module, registered with redis-py.

Each script lives in a ``lua/`` directory of the package that uses it (with a header
documenting its KEYS and ARGV) and is registered once per client with
``client.register_script``: calls go by SHA (EVALSHA), and redis-py loads the script
into a server that does not know it yet (after a restart or SCRIPT FLUSH) and retries.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

__all__ = ["register", "source"]


@cache
def source(package: str, name: str) -> str:
    """The text of ``lua/<name>.lua`` in ``package`` (read once per process)."""
    return resources.files(package).joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def register(client: Any, package: str, name: str) -> Any:
    """``lua/<name>.lua`` of ``package`` registered on ``client``: call it as ``script(keys, args)``."""
    return client.register_script(source(package, name))
