"""Django tasks of the test project."""

import asyncio

try:
    from django.tasks import task  # Django 6
except ImportError:
    from django_tasks import task  # the backport (Django 5.2)


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
