"""Shared fixtures for the redaction tests: a fixed test key and redactors built on it."""

from __future__ import annotations

import pytest

from redaction import Pseudonymizer, Redactor
from redaction.detectors import builtin_detectors
from redaction.testing import deterministic_pseudonymizer


@pytest.fixture
def pseudonymizer() -> Pseudonymizer:
    return deterministic_pseudonymizer()


@pytest.fixture
def redactor(pseudonymizer: Pseudonymizer) -> Redactor:
    """The production layering: known values plus every built-in detector."""
    return Redactor(pseudonymizer, builtin_detectors())


@pytest.fixture
def known_only(pseudonymizer: Pseudonymizer) -> Redactor:
    """Known values only, so a test sees exactly what the known-value layer catches."""
    return Redactor(pseudonymizer, [])
