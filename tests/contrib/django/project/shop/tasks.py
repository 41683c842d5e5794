"""Django tasks of the test project."""

import asyncio

from django_tasks import task


@task()
def add(a: int, b: int) -> int:
    return a + b


@task()
def boom() -> None:
    raise ValueError("boom")


@task()
async def slow_double(n: int) -> int:
    await asyncio.sleep(0.01)
    return 2 * n
