"""Fixtures of the schedule tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from schedkit import Recorder

from freight import Application
from freight.current import set_current


@pytest.fixture(autouse=True)
def _restore_current_app() -> Iterator[None]:
    saved = Application.current()
    yield
    set_current(saved)


@pytest.fixture
def recorder() -> Recorder:
    """A callable that records its runs' due times."""
    return Recorder()
