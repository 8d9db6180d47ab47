"""Fixtures for the end-to-end tests: the session's PostgreSQL and Redmine (started on first use)."""

from pgserver import postgres  # noqa: F401
from redmineserver import redmine  # noqa: F401
