"""The shop's background tasks: plain Django ``@task`` functions."""

try:
    from django.tasks import task  # Django 6
except ImportError:
    from django_tasks import task  # the backport, Django 5.2


@task()
def invoice_total(prices: list[float], tax: float) -> float:
    """Add up an invoice (stands in for slow work: PDFs, e-mail, payments)."""
    return round(sum(prices) * (1 + tax), 2)
