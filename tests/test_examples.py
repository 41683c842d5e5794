"""The runnable examples and the README's two commands, run for real.

Each example runs in a temporary directory with the current interpreter (freight is
installed in the test environment), as a subprocess, and its output and side effects
are checked. The WSGI application is also called in-process.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from freight import Application
from freight.current import set_current

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
README = (ROOT / "README.md").read_text(encoding="utf-8")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus FREIGHT_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FREIGHT_")}
    env.update(extra)
    return env


def run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{argv} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


# -- examples/user_list ------------------------------------------------------------------------
USER_LIST = [sys.executable, str(EXAMPLES / "user_list" / "run.py"), "--latency", "0.05"]
EMAILS = ["ada@example.com", "grace@example.com", "alan@example.com"]


def test_user_list_runs_end_to_end(tmp_path: Path) -> None:
    out = run(USER_LIST, tmp_path).stdout
    # one job per new user, none per render
    assert out.count("queued SendWelcomeEmail") == 3
    assert "3 job(s) dispatched; queue 'emails' holds 3" in out
    assert "rendering queued nothing: queue 'emails' still holds 3" in out
    # a miss that loads from SQLite, then a hit, each timed
    miss = re.search(r"render 1: cache MISS, loaded 3 users from SQLite in ([\d.]+) ms", out)
    hit = re.search(r"render 2: cache HIT, 3 users in ([\d.]+) ms", out)
    assert miss and hit, out
    assert float(miss.group(1)) >= 50 > float(hit.group(1))
    # the worker ran every job, logging one line each, and the queue is empty
    assert "$ python -m freight work --app user_list.app:app --queue emails --stop-when-empty" in out
    assert out.count("user_list.jobs:SendWelcomeEmail") == 3 and out.count(" DONE") == 3
    assert "worker exited with 0; queue 'emails' holds 0" in out
    # the outbox holds exactly one email per user
    outbox = (tmp_path / "storage" / "outbox.txt").read_text(encoding="utf-8")
    assert [line for line in outbox.splitlines() if line.startswith("To: ")] == [
        "To: Ada Lovelace <ada@example.com>",
        "To: Grace Hopper <grace@example.com>",
        "To: Alan Turing <alan@example.com>",
    ]
    assert "4. the outbox (storage/outbox.txt): 3 email(s)" in out
    # everything lives under ./storage on the embedded defaults
    assert (tmp_path / "storage" / "queue.sqlite3").is_file()
    assert (tmp_path / "storage" / "cache").is_dir()

    # a second run: nobody is new, nothing is queued, the cached list is served, no email twice
    again = run(USER_LIST, tmp_path).stdout
    assert again.count("already registered, no job") == 3
    assert "0 job(s) dispatched" in again
    assert "render 1: cache HIT" in again
    assert (tmp_path / "storage" / "outbox.txt").read_text(encoding="utf-8") == outbox

    # --fresh starts over
    fresh = run([*USER_LIST, "--fresh"], tmp_path).stdout
    assert fresh.count("queued SendWelcomeEmail") == 3 and "render 1: cache MISS" in fresh
    assert (tmp_path / "storage" / "outbox.txt").read_text(encoding="utf-8").count("To: ") == 3


def test_a_redelivered_welcome_email_is_not_sent_twice(tmp_path: Path) -> None:
    """At-least-once delivery: running the same job twice writes one email."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from user_list.app import app\n"
        "from user_list.jobs import SendWelcomeEmail\n"
        "job = SendWelcomeEmail(user_id=7, name='Ada Lovelace', email='ada@example.com')\n"
        "job.handle(); job.handle()\n"
    )
    run([sys.executable, "-c", script, str(EXAMPLES)], tmp_path)
    assert (tmp_path / "storage" / "outbox.txt").read_text(encoding="utf-8").count("To: ") == 1


# -- the README's two commands ----------------------------------------------------------------------
def fenced_blocks(text: str) -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, re.S | re.M)


def test_the_readme_first_command_installs_freight_and_runs_the_example() -> None:
    blocks = [b for b in fenced_blocks(README) if "examples/user_list/run.py" in b]
    assert blocks, "README.md has no code block running examples/user_list/run.py"
    first = blocks[0].strip()
    assert "\n" not in first, "the first command must be one line"
    assert README.index(first) < README.index("bash scripts/test"), "it must come before the test command"
    steps = [step.strip() for step in first.split("&&")]
    assert steps[0] == "python3 -m venv .venv"
    assert re.fullmatch(r"\.venv/bin/pip install (-q )?-e \"\.\[database\]\"", steps[1]), steps[1]
    # the last step is exactly what test_user_list_runs_end_to_end runs (with this interpreter)
    assert steps[2] == ".venv/bin/python examples/user_list/run.py"
    assert (ROOT / "examples" / "user_list" / "run.py").is_file()
    # the extra it installs is the one the embedded defaults need (the SQLite queue)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^database = \["SQLAlchemy', pyproject, re.M)


def test_the_readme_second_command_is_the_test_command() -> None:
    section = README.split("## Running the tests", 1)
    assert len(section) == 2, "README.md lacks its '## Running the tests' section"
    assert "bash scripts/test" in section[1]
    assert (ROOT / "scripts" / "test").is_file()
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


# -- examples/wsgi_app.py ------------------------------------------------------------------------------
@pytest.fixture
def wsgi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The example module, imported fresh in an empty directory (its storage goes there)."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("FREIGHT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("WSGI_APP_RENDER_SECONDS", "0.01")
    monkeypatch.syspath_prepend(str(EXAMPLES))
    saved = Application.current()
    sys.modules.pop("wsgi_app", None)
    module = importlib.import_module("wsgi_app")
    yield module
    module.app.close()
    sys.modules.pop("wsgi_app", None)
    set_current(saved)


def call(app: Any, method: str, path: str, body: str = "") -> tuple[str, dict[str, str], str]:
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path}
    if body:
        environ.update(CONTENT_LENGTH=str(len(body)), CONTENT_TYPE="application/x-www-form-urlencoded")
    setup_testing_defaults(environ)
    environ["wsgi.input"] = io.BytesIO(body.encode())
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    data = b"".join(app(environ, start_response))
    assert int(seen["headers"]["Content-Length"]) == len(data)
    return seen["status"], seen["headers"], data.decode()


def test_wsgi_app_caches_the_page(wsgi: ModuleType) -> None:
    status, headers, first = call(wsgi.application, "GET", "/")
    assert status == "200 OK" and headers["X-Cache"] == "MISS" and "<h1>Squares</h1>" in first
    status, headers, second = call(wsgi.application, "GET", "/")
    assert status == "200 OK" and headers["X-Cache"] == "HIT"
    assert second == first  # the same rendering, "built at" time included
    wsgi.app.cache().forget("page:/")
    assert call(wsgi.application, "GET", "/")[1]["X-Cache"] == "MISS"


def test_wsgi_app_dispatches_a_job_that_a_worker_runs(wsgi: ModuleType, tmp_path: Path) -> None:
    status, _, body = call(wsgi.application, "POST", "/subscribe", "email=ada%40example.com")
    assert status == "202 Accepted" and len(json.loads(body)["queued"]) == 32
    call(wsgi.application, "POST", "/subscribe", "email=grace%40example.com")
    status, _, body = call(wsgi.application, "GET", "/health")
    assert status == "200 OK" and json.loads(body) == {"queue": "database", "queue_size": 2}
    run(
        [sys.executable, "-m", "freight", "work", "--app", "wsgi_app:app", "--stop-when-empty"],
        tmp_path,
        PYTHONPATH=str(EXAMPLES),
    )
    assert (tmp_path / "storage" / "subscribers.txt").read_text().split() == [
        "ada@example.com",
        "grace@example.com",
    ]
    assert json.loads(call(wsgi.application, "GET", "/health")[2])["queue_size"] == 0


def test_wsgi_app_rejects_bad_requests(wsgi: ModuleType) -> None:
    status, _, body = call(wsgi.application, "POST", "/subscribe", "email=nope")
    assert status == "400 Bad Request" and "email is required" in body
    assert wsgi.app.queue().size() == 0
    assert call(wsgi.application, "GET", "/subscribe")[0] == "405 Method Not Allowed"
    status, _, body = call(wsgi.application, "GET", "/<script>")
    assert status == "404 Not Found" and "<script>" not in body


# -- examples/redis_demo.py ------------------------------------------------------------------------------
def test_redis_demo_uses_freight_redis_url(tmp_path: Path, redis_url: str, unique: str) -> None:
    import redis

    result = run(
        [sys.executable, str(EXAMPLES / "redis_demo.py")],
        tmp_path,
        FREIGHT_REDIS_URL=redis_url,
        REDIS_DEMO_PREFIX=unique,
        REDIS_DEMO_QUEUE=unique,
    )
    out = result.stdout
    assert f"redis at {redis_url}: cache prefix {unique!r}, queue {unique!r}" in out
    assert "put/get with a 60 s TTL: 'hello'" in out
    assert "add on an existing key: False" in out
    assert "increment: 1, 2, 12" in out
    assert "remember: 42" in out
    assert "a second acquire: False" in out
    assert f"bulk-pushed 5 jobs; size of {unique!r}: 5" in out
    assert out.count("redis_demo:CountWords") == 5
    assert "worker exited with 0; jobs done: 5, words counted: 14, size now: 0, failed: 0" in out
    # nothing was left on the shared server, and nothing went to the embedded SQLite defaults
    client = redis.Redis.from_url(redis_url)
    assert list(client.scan_iter(match=f"*{unique}*", count=1000)) == []
    assert not (tmp_path / "storage").exists()


def test_redis_demo_explains_a_missing_url(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "redis_demo.py")],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "set FREIGHT_REDIS_URL" in result.stderr


# -- docs/extending.md: its code blocks, run as printed -------------------------------------------------
EXTENDING = (ROOT / "docs" / "extending.md").read_text(encoding="utf-8")


def extending_files() -> dict[str, str]:
    """The ``# file: NAME`` code blocks of docs/extending.md, by file name."""
    files = {}
    for block in re.findall(r"^```python\n(.*?)^```", EXTENDING, re.S | re.M):
        first, _, rest = block.partition("\n")
        if first.startswith("# file: "):
            files[first[len("# file: ") :].strip()] = rest
    return files


@pytest.fixture
def extending(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """docs/extending.md's files written to an empty directory that is importable and current."""
    for name, text in extending_files().items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    saved = Application.current()
    for module in ("mystores", "memqueue", "myapp"):
        sys.modules.pop(module, None)
    yield tmp_path
    for module in ("mystores", "memqueue", "myapp"):
        sys.modules.pop(module, None)
    set_current(saved)


def test_extending_runs_as_printed(extending: Path) -> None:
    assert set(extending_files()) == {"mystores.py", "memqueue.py", "myapp.py", "run_extending.py"}
    expected = EXTENDING.split("Running `python run_extending.py` prints:", 1)[1]
    expected = re.search(r"```\n(.*?)```", expected, re.S)
    assert expected is not None
    result = run([sys.executable, "run_extending.py"], extending)
    assert result.stdout == expected.group(1)
    assert (extending / "cache.sqlite3").is_file()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_the_documented_sqlite_store_keeps_the_store_contract(extending: Path) -> None:
    from freight import CacheManager

    clock = Clock()
    config = {
        "default": "a",
        "prefix": "p",
        "stores": {
            "a": {"driver": "sqlite", "path": "s.sqlite3"},
            "b": {"driver": "sqlite", "path": "s.sqlite3", "prefix": "other"},
        },
    }
    manager = CacheManager(config, clock=clock)
    manager.extend("sqlite", "mystores:create")
    a, b = manager.store("a"), manager.store("b")
    assert a.put("k", {"n": 1}, 10) and a.get("k") == {"n": 1} and b.get("k") is None
    assert a.add("k", "x", 10) is False
    a.put("none", None)
    assert a.has("none") and a.get("none", "default") is None
    clock.now += 11
    assert a.get("k") is None and a.add("k", "again", 5) and a.get("k") == "again"
    assert a.increment("n") == 1 and a.increment("n", 41) == 42 and a.decrement("n", 2) == 40
    a.put("m", 5, 10)
    assert a.increment("m") == 6
    clock.now += 11
    assert a.increment("m") == 1  # an expired counter starts over
    assert a.touch("n", 5) and not a.touch("missing", 5)
    clock.now += 6
    assert a.get("n") is None
    assert a.forget("none") and not a.forget("none")
    assert a.remember("r", 60, lambda: [1, 2]) == [1, 2] == a.remember("r", 60, lambda: [3])
    b.put("kept", 1)
    lock = a.lock("job", 10)
    assert lock.acquire() and not a.lock("job", 10).acquire()
    assert a.flush() and a.get("r") is None and b.get("kept") == 1  # the prefix only; locks survive
    assert a.restore_lock("job", lock.owner).current_owner() == lock.owner
    assert not a.lock("job", 10, owner="intruder").release()
    assert lock.refresh(20)
    clock.now += 15
    assert not a.lock("job").acquire()  # refreshed to 20 s, still held
    assert lock.release() and a.lock("job").acquire()
    manager.purge()


def test_the_documented_memory_queue_redelivers_and_guards_reservations(extending: Path) -> None:
    from freight import Job, QueueManager

    clock = Clock()
    manager = QueueManager(
        {"default": "m", "connections": {"m": {"driver": "memory", "retry_after": 30}}}, clock=clock
    )
    manager.extend("memory", "memqueue:create")
    queue = manager.connection()
    ids = queue.bulk([Job(n=1), Job(n=2)])
    queue.later(60, Job(n=3))
    assert queue.size() == 3 and len(ids) == 2
    first = queue.pop()
    assert first is not None and first.id and first.attempts == 1
    second = queue.pop()
    assert second is not None and queue.pop() is None  # the delayed job is not due
    queue.ack(second)
    clock.now += 31  # first's reservation lapsed: it comes back, and its old holder loses it
    again = queue.pop()
    assert again is not None and again.raw == first.raw and again.attempts == 2
    assert not queue.extend(first)
    queue.ack(first)  # a stale holder's ack changes nothing
    assert queue.size() == 2
    assert queue.extend(again, 100)
    clock.now += 40
    third = queue.pop()
    assert third is not None and '"n":3' in third.raw  # the delayed job is due; `again` is still held
    queue.release(again, 10)
    assert queue.pop() is None
    clock.now += 10
    assert queue.pop() is not None
    assert queue.clear() == 2 and queue.size() == 0


# -- examples/scheduled.py ---------------------------------------------------------------------------
def test_scheduled_example_fires_each_due_time_once_across_two_schedulers(tmp_path: Path) -> None:
    out = run([sys.executable, str(EXAMPLES / "scheduled.py")], tmp_path, SCHEDULE_DEMO_SECONDS="4").stdout
    assert "$ python -m freight schedule:work --app scheduled:app   (twice, for 4 s)" in out
    assert "schedulers exited with [0, 0]" in out
    found = re.search(r"heartbeat: (\d+) run\(s\) for (\d+) due time\(s\), 0 fired twice", out)
    assert found and found.group(1) == found.group(2) and int(found.group(1)) >= 2, out
    lines = (tmp_path / "storage" / "heartbeat.log").read_text().split("\n")[:-1]
    assert len({line.split()[0] for line in lines}) == len(lines)
    listing = out.split("schedule:list --app scheduled:app\n", 1)[1]
    assert re.search(r"heartbeat \[on_one_server\] +\* \* \* \* \* \* +UTC .* ok", listing)
    assert re.search(r"nightly report +0 3 \* \* \* +Europe/Berlin +\S+ 03:00:00 CES?T +- +-", listing)
    assert re.search(
        r"warm front_page \[on_one_server\] +\*/2 \* \* \* \* \* +UTC .* ok: Warmed 1 of 1", listing
    )


# -- docs/testing.md: its application and its pytest file, run as printed ---------------------------------
TESTING = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")


def test_the_testing_guide_example_passes_under_pytest(tmp_path: Path) -> None:
    """docs/testing.md's shop.py and test_shop.py, run by pytest in a subprocess: all pass, no server."""
    files = {}
    for block in re.findall(r"^```python\n(.*?)^```", TESTING, re.S | re.M):
        first, _, rest = block.partition("\n")
        if first.startswith("# file: "):
            files[first[len("# file: ") :].strip()] = rest
    assert set(files) == {"shop.py", "test_shop.py"}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "test_shop.py",
    ]
    result = run(argv, tmp_path, FREIGHT_REDIS_URL="redis://127.0.0.1:1/0", PYTHONPATH=str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


# -- examples/tagged_views.py ------------------------------------------------------------------
def test_tagged_views_demo_shows_tags_single_flight_and_flexible(tmp_path: Path) -> None:
    out = run([sys.executable, str(EXAMPLES / "tagged_views.py"), "--demo"], tmp_path).stdout
    assert "10 concurrent first visits: loaded the product list 1 time(s)" in out
    assert "next visit: cache HIT" in out
    assert "after adding a lamp: cache MISS, products ['chair', 'desk', 'lamp']" in out
    stale = re.search(r"stats computed #1; stale read served #1 in (\d+) ms", out)
    assert stale and int(stale.group(1)) < 100, out  # the stale read did not wait for the 100 ms refresh
    assert "after the background refresh: stats computed #2" in out
    assert "stats computations: 2" in out


# -- examples/workflows ----------------------------------------------------------------------
def test_workflows_example_runs_a_chain_and_a_batch(tmp_path: Path) -> None:
    out = run([sys.executable, str(EXAMPLES / "workflows" / "run.py")], tmp_path).stdout
    chain = [line.strip() for line in out.splitlines() if line.strip().startswith("chain:")]
    first = [line for line in chain if "image 1" in line]
    assert first == ["chain: fetched image 1", "chain: resized image 1", "chain: published image 1"]
    second = [line for line in chain if "image 2" in line]
    assert second == ["chain: fetched image 2", "chain: ALERT, the pipeline of image 2 stopped"]
    progress = re.findall(r"batch: (\d+)/20 processed, progress (\d+)%", out)
    assert progress and progress[-1] == ("20", "100")
    assert [int(p) for _, p in progress] == sorted(int(p) for _, p in progress), "progress only grows"
    assert out.count("batch: then -> import 'customers' complete") == 1
    assert out.count("batch: finally -> cleaned up after 'customers'") == 1
    assert "find_batch: processed=20 failed=0 pending=0 progress=100% finished=True cancelled=False" in out
    assert "failed jobs: 1 (the broken Resize)" in out
    assert re.search(r"[0-9a-f]{32}\s+customers\s+100%\s+20\s+0\s+0\s+finished", out), out


# -- examples/fastapi_app, flask_app, django_project (docs/asyncio.md, flask.md, django.md) ----
def test_fastapi_example_dispatches_async_jobs_and_caches_with_aremember(tmp_path: Path) -> None:
    out = run([sys.executable, str(EXAMPLES / "fastapi_app" / "run.py")], tmp_path).stdout
    assert out.count("POST /signup") == 3 and "signups=3" in out
    assert "GET /stats: {'signups': 3, 'welcomed': 0}" in out
    assert "queue 'mail' holds 3 job(s)" in out and "worker ran 3 job(s) at --concurrency 10" in out
    assert out.count("welcome ") == 3 and "welcomed: 3" in out


def test_flask_example_runs_jobs_in_an_app_context(tmp_path: Path) -> None:
    out = run([sys.executable, str(EXAMPLES / "flask_app" / "run.py")], tmp_path).stdout
    assert "POST /orders scones: 202, waiting=2" in out and "flask freight work exited 0" in out
    assert "shipped tea from teashop" in out and "shipped scones from teashop" in out


def test_django_example_runs_a_task_with_manage_py_freight_work(tmp_path: Path) -> None:
    out = run([sys.executable, str(EXAMPLES / "django_project" / "run.py")], tmp_path).stdout
    assert "cache.get: {'text': 'hello'} | visits: 1" in out
    assert "manage.py freight work exited 0" in out
    assert re.search(r"task \w+: SUCCESSFUL, return value 35.4", out), out


# -- examples/dashboard ---------------------------------------------------------------------------
def test_dashboard_example_records_and_reads_back_exact_counts(tmp_path: Path) -> None:
    out = run([sys.executable, str(EXAMPLES / "dashboard" / "run.py")], tmp_path).stdout
    assert "queue default: processed 18, failed 2, backlog 0" in out
    assert "queue images: processed 40, failed 0, backlog 0" in out
    assert "cache file: 20 hits, 10 misses, ratio 0.6667" in out
    assert 'freight_jobs_failed_total{connection="database",job="jobs:ImportRow",queue="default"} 2.0' in out
