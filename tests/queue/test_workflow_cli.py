"""``python -m freight batches | batches:prune | cancel``, run in-process through ``freight.cli.main``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from workflow_jobs import Member, Step

from freight import Batch
from freight.app import Application
from freight.cli import main
from freight.queue.worker import Worker


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    """A freight.toml with one SQLite connection ``db``."""
    path = tmp_path / "freight.toml"
    url = f"sqlite:///{tmp_path}/queue.sqlite3"
    path.write_text(
        '[cache]\ndefault = "array"\n'
        f'[queue]\ndefault = "db"\n[queue.connections.db]\ndriver = "database"\nurl = "{url}"\n'
        f'[queue.failed]\ndriver = "database"\nurl = "{url}"\n'
    )
    yield path
    app = Application.current()
    if app is not None:
        app.close()


def run(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--config", str(config)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_batches_lists_and_prunes(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, config, "batches")[1].strip() == "No batches."
    app = Application.from_config(config)
    done = Batch([Member(n=1), Member(n=2)]).name("import").dispatch(app.queue().connection())
    Worker(app, stop_when_empty=True, memory=0).run()
    running = Batch([Member(n=3)]).name("later").dispatch(app.queue().connection())
    code, out, _ = run(capsys, config, "batches")
    header, *rows = out.strip().splitlines()
    assert code == 0 and header.split()[:4] == ["ID", "Name", "Progress", "Processed"]
    assert rows[0].split()[:3] == [running.id, "later", "0%"] and "running" in rows[0]
    assert rows[1].split()[:4] == [done.id, "import", "100%", "2"] and "finished" in rows[1]
    code, out, _ = run(capsys, config, "batches:prune", "--hours", "1")
    assert code == 0 and "Deleted 0 finished batches" in out
    code, out, _ = run(capsys, config, "batches:prune", "--hours", "0")
    assert code == 0 and "Deleted 1 finished batch " in out
    assert Application.from_config(config).queue().find_batch(done.id) is None
    assert Application.from_config(config).queue().find_batch(running.id) is not None


def test_cancel(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job_id = Application.from_config(config).queue().later(60, Step(n=1))
    assert job_id is not None
    code, out, _ = run(capsys, config, "cancel", job_id)
    assert code == 0 and f"Cancelled job {job_id}" in out
    code, _, err = run(capsys, config, "cancel", job_id)
    assert code == 1 and "is not waiting" in err
