"""Installed as ``sitecustomize`` in a poison-test worker: records what must never happen.

Every way of running a program (``os.system``, ``os.popen``, the ``exec*``/``spawn*``
family, ``subprocess.Popen``) and of unpickling is replaced by a function that leaves a
``called-<name>`` marker in ``FAULT_TRAP_DIR`` and refuses; every module imported is
appended to ``imports.log`` there.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from typing import Any

_DIR = os.environ["FAULT_TRAP_DIR"]


def _mark(what: str) -> None:
    with open(os.path.join(_DIR, f"called-{what}"), "a") as fh:
        fh.write(f"{os.getpid()}\n")


def _refuse(name: str) -> Any:
    def refused(*args: Any, **kwargs: Any) -> Any:
        _mark(name)
        raise PermissionError(f"fault guard: {name} called with {args!r}")

    return refused


for _name in [
    "system",
    "popen",
    "execv",
    "execve",
    "execvp",
    "execvpe",
    "execl",
    "execle",
    "execlp",
    "execlpe",
    "spawnv",
    "spawnve",
    "spawnvp",
    "spawnvpe",
    "spawnl",
    "spawnle",
    "posix_spawn",
    "posix_spawnp",
]:
    if hasattr(os, _name):
        setattr(os, _name, _refuse(f"os.{_name}"))
subprocess.Popen.__init__ = _refuse("subprocess.Popen")  # type: ignore[method-assign]
pickle.loads = _refuse("pickle.loads")
pickle.load = _refuse("pickle.load")


class _ImportLog:
    """A meta-path finder that only writes down the names it is asked about."""

    @staticmethod
    def find_spec(fullname: str, path: Any = None, target: Any = None) -> None:
        with open(os.path.join(_DIR, "imports.log"), "a") as fh:
            fh.write(fullname + "\n")


sys.meta_path.insert(0, _ImportLog())  # type: ignore[arg-type]
