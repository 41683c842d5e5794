"""Poison payloads (issue 5, item 7) and signed payloads (item 9), on every queue driver.

Hostile or broken payloads are pushed raw, followed by one good job. The worker must
put every poison in the failed store with its reason, run the good job, and exit 0
with ``--stop-when-empty``. It runs with ``fault_guard`` as its ``sitecustomize``: any
call to os.system / exec / spawn / subprocess.Popen / pickle.loads leaves a marker, and
every import is logged, so we can prove nothing was called and nothing was imported
beyond the modules the payloads name.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fault_jobs import Record
from faultkit import HERE, Processes, report, worker_argv, worker_env
from faultsinks import Sink
from queueworld import CONNECTION, World

from freight.queue import payload as payloads
from freight.serialization import Signer

KEY = "queue-signing-key"
TEN_MB = 10 * 1024 * 1024


def envelope(job: str, data: Any = None, **fields: Any) -> str:
    body = {
        "uuid": f"poison-{job}",
        "job": job,
        "data": {} if data is None else data,
        "attempts": 0,
        "max_tries": 1,
        "backoff": None,
        "timeout": 5,
        "retry_until": None,
        "queue": "q",
        "created_at": 0.0,
    }
    body.update(fields)
    return json.dumps(body)


def good(i: int, signer: Signer | None = None) -> str:
    job = Record({"id": f"good-{i}"})
    return payloads.dumps(payloads.build(job, "q", time.time()), signer)


def poisons() -> dict[str, tuple[str, str]]:
    """name -> (raw payload, a word the failure reason must contain)."""
    valid = good(0)
    bait = "fault_bait:trap"
    return {
        "truncated json": (valid[: len(valid) // 2], "json"),
        "not json": ("hello, worker", "json"),
        "json array": ("[1, 2, 3]", "object"),
        "missing fields": (json.dumps({"uuid": "x"}), "required"),
        "deep nesting": ("[" * 200_000 + "]" * 200_000, "json"),
        "bad tagged value": (
            envelope("fault_jobs:Record", {"id": {"__freight__": "bytes", "v": "!!"}}),
            "base64",
        ),
        "unknown tag": (envelope("fault_jobs:Record", {"__freight__": "pickle", "v": "gASV"}), "tagged"),
        "unknown module": (envelope("fault_no_such_module:Job"), "import"),
        "unknown class": (envelope("fault_jobs:NoSuchJob"), "exist"),
        "os:system": (envelope("os:system", {"command": "touch /tmp/freight-pwned"}), "not a freight job"),
        "subprocess:Popen": (
            envelope("subprocess:Popen", {"args": ["touch", "/tmp/freight-pwned"]}),
            "not a freight job",
        ),
        "builtins:eval": (envelope("builtins:eval", {"source": "1"}), "not a freight job"),
        "pickle:loads": (envelope("pickle:loads", {"data": "x"}), "not a freight job"),
        "class not a job": (envelope("fault_trap:NotAJob", {"module": bait}), "not a freight job"),
        "function": (envelope("fault_trap:trap"), "not a freight job"),
        "method": (envelope("fault_trap:NotAJob.handle"), "not a freight job"),
        "no qualname": (envelope("fault_trap"), "module:qualname"),
        "job is a number": (json.dumps({"uuid": "n", "job": 42, "data": {}}), "job"),
        "data is a list": (envelope("fault_jobs:Record", ["id", "x"]), "data"),
        "data is a string": (envelope("fault_jobs:Record", bait), "data"),
        "data lacks keys": (envelope("fault_jobs:NeedsKeys", {"queue": bait}), "keyerror"),
        "data wrong types": (envelope("fault_jobs:NeedsKeys", {"a": "one", "b": [bait]}), "valueerror"),
        "signed, worker has no key": (
            good(9, Signer("some-key-some-key-some-key", purpose="queue")),
            "no 'key'",
        ),
        "10 MB payload": (envelope("fault_jobs:NeedsKeys", {"blob": "x" * TEN_MB}), "keyerror"),
    }


def odd_options() -> dict[str, str]:
    """Valid job and data, garbage in the option fields: fail with a reason or run, never crash."""
    return {
        "attempts not a number": envelope("fault_jobs:Record", {"id": "odd-attempts"}, attempts="many"),
        "timeout not a number": envelope("fault_jobs:Record", {"id": "odd-timeout"}, timeout="forever"),
        "backoff names code": envelope("fault_jobs:Record", {"id": "odd-backoff"}, backoff="fault_bait:trap"),
        "max_tries negative": envelope("fault_jobs:Record", {"id": "odd-tries"}, max_tries=-5),
        "retry_until a string": envelope("fault_jobs:Record", {"id": "odd-until"}, retry_until="tomorrow"),
    }


def run_guarded_worker(procs: Processes, world: World, sink: Sink, tmp_path: Path) -> tuple[Any, Path]:
    trap_dir = tmp_path / "traps"
    trap_dir.mkdir()
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(HERE / "fault_guard.py", site / "sitecustomize.py")
    env = worker_env(sink, {"FAULT_TRAP_DIR": str(trap_dir)})
    env["PYTHONPATH"] = f"{site}:{env['PYTHONPATH']}"
    argv = worker_argv(world.config_path, CONNECTION, world.queue, "--stop-when-empty", "--sleep", "0.1")
    return procs.start("guarded-worker", argv, env=env), trap_dir


def assert_nothing_ran(trap_dir: Path) -> None:
    markers = sorted(p.name for p in trap_dir.iterdir() if p.name != "imports.log")
    assert [m for m in markers if m != "imported-fault_trap"] == [], f"code ran or was imported: {markers}"
    imports = (trap_dir / "imports.log").read_text().split() if (trap_dir / "imports.log").exists() else []
    assert "fault_bait" not in imports, "a module named only inside a payload's data was imported"
    assert "fault_no_such_module" in imports, "the import log does not work"


@pytest.mark.parametrize("kind", ["redis", "postgres", "mariadb", "sqlite"])
def test_poison_payloads_land_in_the_failed_store(
    kind: str,
    backend_url: Callable[[str], str],
    make_world: Callable[..., World],
    make_sink: Callable[[str, str], Sink],
    procs: Processes,
    redis_url: str,
    tmp_path: Path,
) -> None:
    world = make_world(kind, backend_url(kind), retry_after=30)
    sink = make_sink("redis", redis_url)
    bad = poisons()
    odd = odd_options()
    for raw, _ in bad.values():
        world.push_raw(raw)
    for raw in odd.values():
        world.push_raw(raw)
    world.push_raw(good(1))
    started = time.monotonic()
    worker, trap_dir = run_guarded_worker(procs, world, sink, tmp_path)
    code = worker.wait(60)
    elapsed = time.monotonic() - started
    assert code == 0, f"the worker exited {code}:\n{worker.tail()}"
    assert sink.ids() and "good-1" in sink.ids(), (
        f"the good job after the poison did not run:\n{worker.tail()}"
    )
    failed = {f.payload: f for f in world.failed_jobs()}
    problems = []
    for name, (raw, reason) in bad.items():
        record = failed.get(raw)
        if record is None:
            problems.append(f"{name}: not in the failed store")
        elif reason.lower() not in record.exception.lower():
            problems.append(f"{name}: reason {record.summary!r} does not mention {reason!r}")
    ran = set(sink.ids())
    for name, raw in odd.items():
        if raw not in failed and json.loads(raw)["data"]["id"] not in ran:
            problems.append(f"{name}: neither failed nor ran")
    report(
        f"poison[{kind}]",
        payloads=len(bad) + len(odd),
        failed=len(failed),
        seconds=round(elapsed, 1),
        odd_ran=sorted(ran - {"good-1"}),
    )
    assert not problems, "\n".join(problems) + f"\n{worker.tail()}"
    assert world.size() == 0
    assert_nothing_ran(trap_dir)


@pytest.mark.parametrize("kind", ["redis", "sqlite"])
def test_a_worker_with_a_key_rejects_unsigned_and_tampered_payloads(
    kind: str,
    backend_url: Callable[[str], str],
    make_world: Callable[..., World],
    make_sink: Callable[[str, str], Sink],
    procs: Processes,
    redis_url: str,
    tmp_path: Path,
) -> None:
    world = make_world(kind, backend_url(kind), retry_after=30, key=KEY)
    sink = make_sink("redis", redis_url)
    signer = Signer(KEY, purpose="queue")
    signed = good(2, signer)
    sig, text = signed[4:].split(":", 1)
    hostile = {
        "unsigned": (good(3), "not signed"),
        "tampered data": ("sig:" + sig + ":" + text.replace("good-2", "evil-2"), "does not match"),
        "tampered class": (
            "sig:" + sig + ":" + text.replace("fault_jobs:Record", "fault_trap:trap"),
            "does not match",
        ),
        "other key": (good(4, Signer("another-key-another-key", purpose="queue")), "does not match"),
        "not hex": ("sig:zz:" + text, "hex"),
    }
    for raw, _ in hostile.values():
        world.push_raw(raw)
    world.push_raw(signed)
    world.push_many([Record({"id": "good-5"})])  # the connection signs what it pushes
    worker, trap_dir = run_guarded_worker(procs, world, sink, tmp_path)
    assert worker.wait(60) == 0, worker.tail()
    assert sorted(sink.ids()) == ["good-2", "good-5"], worker.tail()
    failed = {f.payload: f for f in world.failed_jobs()}
    for name, (raw, reason) in hostile.items():
        assert raw in failed, f"{name}: not in the failed store\n{worker.tail()}"
        assert reason in failed[raw].exception.lower(), f"{name}: {failed[raw].summary!r}"
    markers = sorted(p.name for p in trap_dir.iterdir() if p.name.startswith("called-"))
    assert markers == [], markers
