"""Every exception class of every package maps to a deliberate HTTP status and CLI exit code."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import adapters
import fallback
import normalizers
import redaction
from adapters.errors import AdapterError
from fallback.errors import FallbackError
from gateway.auth.errors import AuthError
from gateway.exit_codes import ExitCode, exit_code_for
from gateway.pipeline import RecordQuarantined
from normalizers.errors import NormalizationError
from redaction.errors import RedactionError

BASES: tuple[type[Exception], ...] = (
    AdapterError,
    FallbackError,
    NormalizationError,
    RedactionError,
    AuthError,
)


def _all_subclasses(base: type[Exception]) -> set[type[Exception]]:
    found = {base}
    for sub in base.__subclasses__():
        found |= _all_subclasses(sub)
    return found


def _import_everything() -> None:
    for package in (adapters, fallback, normalizers, redaction):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)


_import_everything()
ALL_ERRORS = sorted({cls for base in BASES for cls in _all_subclasses(base)}, key=lambda c: c.__qualname__)

# Deliberate CLI outcome per error family. INTERNAL is a deliberate answer too, but only where listed.
EXPECTED_EXIT = {
    "adapter": ExitCode.DATA_ERROR,
    "input": ExitCode.DATA_ERROR,
    "source": ExitCode.UNAVAILABLE,
    "normalize": ExitCode.DATA_ERROR,
    "spool": ExitCode.UNAVAILABLE,
    "redaction": ExitCode.INTERNAL,  # never escapes: the sealer turns it into SealingFailed
    "delivery": ExitCode.INTERNAL,  # settled by the worker, never raised to a command
    "fallback": ExitCode.INTERNAL,
    "auth": ExitCode.INTERNAL,  # HTTP only
}


@pytest.mark.parametrize("error_class", ALL_ERRORS, ids=lambda c: c.__qualname__)
def test_every_error_has_a_code_and_a_deliberate_exit_code(error_class: type[Exception]) -> None:
    code = getattr(error_class, "code", None)
    assert isinstance(code, str) and code, f"{error_class.__qualname__} has no code"
    family = code.split(".")[0]
    assert family in EXPECTED_EXIT, f"{error_class.__qualname__}: no exit code decided for family {family!r}"
    instance = error_class.__new__(error_class)
    assert exit_code_for(instance) == EXPECTED_EXIT[family]


def test_every_error_has_a_docstring_saying_when_it_is_raised() -> None:
    assert [cls.__qualname__ for cls in ALL_ERRORS if not (cls.__doc__ or "").strip()] == []


def test_quarantine_is_bad_data() -> None:
    assert exit_code_for(RecordQuarantined("q_1", "normalize.sealing")) == ExitCode.DATA_ERROR
    assert exit_code_for(RuntimeError()) == ExitCode.INTERNAL
