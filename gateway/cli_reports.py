"""``rcmgw markers add|list`` and ``rcmgw report anomalies|per-1000-claims|improvement|
top-fingerprints``: the anomaly store and reports of the gateway home, as JSON on stdout.

Adding a marker is audited (``marker.added``, operator from ``--actor``, default the login name);
its note goes through the redactor first. Exit 2 on a bad option (a date that is not YYYY-MM-DD, a
category that is not a taxonomy-style key); exit 69 when the store cannot be opened.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from fallback.clock import utc_now
from fallback.errors import SpoolError
from gateway.anomaly_counts import ID_SHAPE
from gateway.anomaly_engine import AnomalyEngine
from gateway.anomaly_postgres import anomaly_store_for
from gateway.anomaly_reports import ReportService, marker_json, redact_note
from gateway.exit_codes import ExitCode
from gateway.lifecycle_wiring import lifecycle_dsn
from gateway.settings import get_settings

T = TypeVar("T")
markers_app = typer.Typer(
    name="markers", help="Change markers (workflow or rule changes).", no_args_is_help=True
)
report_app = typer.Typer(name="report", help="Anomalies and ticket reports.", no_args_is_help=True)
ConfigOpt = Annotated[str | None, typer.Option("--config", "-c", help="YAML config file.")]
CategoryOpt = Annotated[str, typer.Option("--category", help="Category key (as tickets carry it).")]


def _emit(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def _fail(message: str, code: ExitCode) -> typer.Exit:
    sys.stderr.write(f"rcmgw: error: {message}\n")
    return typer.Exit(int(code))


def _category(value: str) -> str:
    if not ID_SHAPE.match(value):
        raise _fail(f"--category {value[:40]!r} is not a category key", ExitCode.USAGE)
    return value


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(f"{option} must be a date (YYYY-MM-DD)", ExitCode.USAGE) from None


def _with_store(config: str | None, action: Callable[[AnomalyEngine, Path], Awaitable[T]]) -> T:
    settings = get_settings(Path(config) if config else None)
    engine = AnomalyEngine(settings.anomaly, anomaly_store_for(settings.spool_file, lifecycle_dsn(settings)))

    async def main() -> T:
        try:
            return await action(engine, settings.spool_file)
        finally:
            await engine.store.aclose()

    try:
        return asyncio.run(main())
    except SpoolError as error:
        raise _fail(f"anomaly store unavailable ({error.code})", ExitCode.UNAVAILABLE) from None


@markers_app.command("add")
def markers_add(
    category: CategoryOpt,
    day: Annotated[str, typer.Option("--date", help="Day of the change (YYYY-MM-DD).")],
    note: Annotated[str, typer.Option("--note", help="What changed (no PHI; it is redacted anyway).")],
    actor: Annotated[str | None, typer.Option("--actor", help="Operator name for the audit log.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Record a workflow or rule change of one category on one day."""
    key, when = _category(category), _day(day, "--date")
    if not note.strip() or len(note) > 500:
        raise _fail("--note must be 1 to 500 characters", ExitCode.USAGE)
    who = actor or getpass.getuser()
    settings = get_settings(Path(config) if config else None)

    async def add(engine: AnomalyEngine, _: Path) -> dict[str, object]:
        from gateway.audit_postgres import build_audit_log
        from gateway.keys import load_or_create_keys

        keys = load_or_create_keys(settings.keys_dir)
        marker = await engine.store.add_marker(key, when, redact_note(keys, note), who, utc_now())
        audit = build_audit_log(settings, keys.audit_key)
        audit.open()
        try:
            await audit.record(
                "marker.added", actor=who, marker_id=marker.id, category=key, day=when.isoformat()
            )
        finally:
            audit.close()
        return marker_json(marker)

    _emit(_with_store(config, add))


@markers_app.command("list")
def markers_list(
    category: Annotated[str | None, typer.Option("--category", help="Only this category.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Every change marker, oldest first."""
    key = _category(category) if category else None

    async def listing(engine: AnomalyEngine, _: Path) -> list[dict[str, object]]:
        return [marker_json(m) for m in await engine.store.markers(key)]

    _emit(_with_store(config, listing))


@report_app.command("anomalies")
def report_anomalies(
    hours: Annotated[int, typer.Option("--hours", min=1, help="Spikes of the last N hours.")] = 24,
    config: ConfigOpt = None,
) -> None:
    """Detected spikes with their baselines and meta-tickets."""

    async def rows(engine: AnomalyEngine, _: Path) -> list[dict[str, object]]:
        return [
            {**asdict(row), "window_start": row.window_start.isoformat()}
            for row in await engine.current(hours)
        ]

    _emit(_with_store(config, rows))


@report_app.command("per-1000-claims")
def report_per_1000(
    start: Annotated[str | None, typer.Option("--start", help="First day (default 30 days ago).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Day after the last (default tomorrow).")] = None,
    by_category: Annotated[bool, typer.Option("--by-category", help="Per payer and category.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Tickets opened (and occurrences) per 1,000 835 claims, per payer."""
    last = _day(end, "--end") if end else utc_now().date() + timedelta(days=1)
    first = _day(start, "--start") if start else last - timedelta(days=30)
    if first >= last:
        raise _fail("--start must be before --end", ExitCode.USAGE)

    async def report(engine: AnomalyEngine, spool_file: Path) -> dict[str, object]:
        service = ReportService(engine.store, spool_file)
        return await service.per_1000_claims(first, last, by="payer_category" if by_category else "payer")

    _emit(_with_store(config, report))


@report_app.command("improvement")
def report_improvement(
    days: Annotated[int, typer.Option("--days", min=1, max=365, help="Days before and after.")] = 90,
    category: Annotated[str | None, typer.Option("--category", help="Only markers of this category.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Tickets per 1,000 claims in the days before and after each change marker."""
    key = _category(category) if category else None

    async def report(engine: AnomalyEngine, spool_file: Path) -> list[dict[str, object]]:
        service = ReportService(engine.store, spool_file)
        return await service.improvement(today=utc_now().date(), days=days, category=key)

    _emit(_with_store(config, report))


@report_app.command("top-fingerprints")
def report_top(
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 20,
    days: Annotated[int | None, typer.Option("--days", min=1, help="Last seen within N days.")] = None,
    config: ConfigOpt = None,
) -> None:
    """The most recurring problems (fingerprints by occurrences) for root-cause reviews."""
    since: datetime | None = utc_now() - timedelta(days=days) if days else None

    async def report(engine: AnomalyEngine, spool_file: Path) -> list[dict[str, object]]:
        return await ReportService(engine.store, spool_file).top_fingerprints(limit=limit, since=since)

    _emit(_with_store(config, report))
