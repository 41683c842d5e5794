"""The user-list example: a cached view over a SQLite users table, and welcome emails as jobs.

Run the whole flow with ``python examples/user_list/run.py`` (see README.md).
"""
