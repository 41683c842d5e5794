"""Chains and batches end to end on a SQLite queue (no server needed).

    python examples/workflows/run.py

1. dispatches two chains (Fetch -> Resize -> Publish, with an Alert catch job); the
   second one's Resize fails, so the chain stops and Alert runs once;
2. dispatches a batch of 20 ImportChunk jobs with then and finally jobs;
3. runs a worker until the queue is empty, printing the batch's progress as it goes
   (a ``processed`` event listener reads the batch back from the queue);
4. prints the batch as ``find_batch`` reads it, and ``python -m freight batches``.

Everything lives in ``./storage`` under the current directory.
"""

from __future__ import annotations

import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))

from freight import Application, Batch, Chain, Worker  # noqa: E402
from freight.cli import main as freight_cli  # noqa: E402
from freight.queue.events import JobEvent  # noqa: E402
from workflows.jobs import Alert, Fetch, ImportChunk, ImportCleanup, ImportDone, Publish, Resize  # noqa: E402

CONFIG = {
    "cache": {"default": "array", "stores": {"array": {"driver": "array"}}},
    "queue": {
        "default": "db",
        "connections": {"db": {"driver": "database", "url": "sqlite:///storage/workflows.sqlite3"}},
        "failed": {"driver": "database", "url": "sqlite:///storage/workflows.sqlite3"},
    },
}


def main() -> int:
    Path("storage").mkdir(exist_ok=True)
    app = Application(CONFIG)
    queue = app.queue().connection()
    queue.clear()

    print("1. two chains: Fetch -> Resize -> Publish, catch Alert")
    Chain([Fetch(id=1), Resize(id=1), Publish(id=1)]).catch(Alert(id=1)).dispatch(queue)
    Chain([Fetch(id=2), Resize(id=2, broken=True), Publish(id=2)]).catch(Alert(id=2)).dispatch(queue)

    print("2. a batch of 20 chunks, then ImportDone, finally ImportCleanup")
    batch = (
        Batch([ImportChunk(chunk=i) for i in range(20)])
        .name("customers")
        .then(ImportDone(name="customers"))
        .finally_(ImportCleanup(name="customers"))
        .dispatch(queue)
    )
    print(f"   batch {batch.id}: {batch.total} jobs, progress {batch.progress}%")

    shown: set[int] = set()

    def progress(event: JobEvent) -> None:
        member = (event.payload or {}).get("batch")
        if isinstance(member, dict) and "callback" not in member:
            found = queue.find_batch(str(member["id"]))
            if found is not None and found.progress not in shown:
                shown.add(found.progress)
                print(f"  batch: {found.processed}/{found.total} processed, progress {found.progress}%")

    app.queue().on("processed", progress)

    print("3. a worker runs everything")
    Worker(app, stop_when_empty=True, memory=0).run()

    found = queue.find_batch(batch.id)
    assert found is not None
    print(
        f"4. find_batch: processed={found.processed} failed={found.failed} pending={found.pending} "
        f"progress={found.progress}% finished={found.finished} cancelled={found.cancelled}"
    )
    print(f"   failed jobs: {app.queue().failed().count()} (the broken Resize)")
    print("$ python -m freight batches")
    sys.stdout.flush()
    return freight_cli(["batches", "--app", "workflows.run:APP"])


APP = Application(CONFIG) if __name__ != "__main__" else None

if __name__ == "__main__":
    sys.exit(main())
