"""Shared fixtures: an isolated gateway home per test, settings, tokens, canary PHI."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.settings import Settings, get_settings


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty RCMGW_HOME."""
    path = tmp_path / "var"
    path.mkdir()
    return path


@pytest.fixture
def settings(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings isolated to ``home``; environment RCMGW_* variables cleared."""
    for key in list(os.environ):
        if key.startswith("RCMGW_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("RCMGW_MLLP__PORT", "0")  # never the fixed 2575: suites run side by side
    yield get_settings(home=home, delivery_poll_interval=0.05)


@pytest.fixture(autouse=True)
def _log_everything(caplog: pytest.LogCaptureFixture) -> None:
    """Emit every log call (DEBUG and up) through the JSON formatter, so a bad ``extra`` or a
    formatter bug fails the test instead of hiding below the default WARNING level."""
    from gateway.logs import JsonFormatter

    caplog.set_level(logging.DEBUG)
    caplog.handler.setFormatter(JsonFormatter())


def _ci() -> bool:
    return os.environ.get("CI") == "true"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under CI=true nothing may be skipped for want of a service or of the corpus: a skip fails."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if _ci() and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true (not allowed): {report.longrepr}"


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """The same rule for whole modules skipped at collection."""
    if _ci() and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"module skipped under CI=true (not allowed): {report.longrepr}"
