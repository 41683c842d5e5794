"""Peer job queues (RQ, Dramatiq, Huey, Celery, pgqueuer), each a QueueTarget plus its worker.

Each module is also the worker's entry point: ``python -m benchmarks.peers.<name> ...``
starts one worker process with the library's own worker class, configured as the
benchmark documents (docs/benchmarks.md), logging at WARNING.
"""
