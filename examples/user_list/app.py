"""The example's freight Application: the embedded defaults (a file cache and a SQLite queue
under ``./storage``), so nothing has to run besides Python.

The worker loads this same object with ``python -m freight work --app user_list.app:app``.
"""

from __future__ import annotations

from freight import Application

# No argument: ./freight.toml or [tool.freight] in ./pyproject.toml if present, else the
# embedded defaults; FREIGHT_* environment variables override either.
app = Application()
