"""Anomalies, reports and change markers:

- ``GET /v1/anomalies`` (``reports:read``): spikes of the last ``hours`` with their baselines and
  meta-tickets;
- ``GET /v1/reports/per-1000-claims`` (``reports:read``): tickets per 1,000 835 claims, per payer
  or per payer and category, for days in ``[start, end)`` (default the last 30 days);
- ``GET /v1/reports/improvement`` (``reports:read``): before/after each change marker;
- ``GET /v1/reports/top-fingerprints`` (``reports:read``): most recurring problems;
- ``GET /v1/markers`` (``reports:read``) and ``POST /v1/markers`` (``markers:write``, audited):
  change markers. Notes go through the redactor before they are stored.

Every answer holds ids, codes, counts and dates only. 404 when anomaly detection is disabled.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from gateway.anomaly_counts import ID_SHAPE
from gateway.anomaly_engine import AnomalyEngine
from gateway.anomaly_reports import ReportService, marker_json, redact_note
from gateway.auth.deps import ScopeRequirement
from gateway.auth.scopes import Scope
from gateway.auth.tokens import Principal
from gateway.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["reports"])
ReportsReader = Annotated[Principal, Depends(ScopeRequirement(Scope.REPORTS_READ))]
MarkersWriter = Annotated[Principal, Depends(ScopeRequirement(Scope.MARKERS_WRITE))]


class MarkerRequest(BaseModel):
    """A workflow or rule change of one category, dated."""

    category: Annotated[str, Field(pattern=ID_SHAPE.pattern)]
    date: date
    note: Annotated[str, Field(min_length=1, max_length=500)]


def _engine(request: Request) -> tuple[Runtime, AnomalyEngine]:
    runtime: Runtime = request.app.state.runtime
    if runtime.anomaly is None:
        raise HTTPException(404, "anomaly detection is disabled (anomaly.enabled)")
    return runtime, runtime.anomaly


def _reports(request: Request) -> ReportService:
    runtime, engine = _engine(request)
    return ReportService(engine.store, runtime.settings.spool_file)


@router.get("/anomalies", summary="Current spikes with their baselines")
async def get_anomalies(
    request: Request, principal: ReportsReader, hours: Annotated[int, Query(ge=1, le=24 * 90)] = 24
) -> dict[str, Any]:
    """Spikes detected for the last ``hours`` hours, newest first."""
    _, engine = _engine(request)
    rows = await engine.current(hours)
    return {
        "anomalies": [
            {
                "scope": row.scope,
                "kind": row.kind,
                "payer": row.payer,
                "category": row.category,
                "code": row.code,
                "window_start": row.window_start.isoformat(),
                "observed": row.observed,
                "baseline": row.baseline,
                "score": row.score,
                "meta_ticket_id": row.meta_ticket_id,
            }
            for row in rows
        ]
    }


@router.get("/reports/per-1000-claims", summary="Tickets per 1,000 claims")
async def get_per_1000(
    request: Request,
    principal: ReportsReader,
    start: date | None = None,
    end: date | None = None,
    by: Literal["payer", "payer_category"] = "payer",
) -> dict[str, Any]:
    """Per payer (or payer and category) for days in ``[start, end)``."""
    _, engine = _engine(request)
    end = end or engine.clock().date() + timedelta(days=1)
    start = start or end - timedelta(days=30)
    if start >= end or (end - start).days > 3660:
        raise HTTPException(400, "start must be before end, at most 10 years apart")
    return await _reports(request).per_1000_claims(start, end, by=by)


@router.get("/reports/improvement", summary="Tickets per 1,000 claims before and after each marker")
async def get_improvement(
    request: Request,
    principal: ReportsReader,
    days: Annotated[int, Query(ge=1, le=365)] = 90,
    category: Annotated[str | None, Query(pattern=ID_SHAPE.pattern)] = None,
) -> dict[str, Any]:
    """Before/after windows of ``days`` days around every marker."""
    _, engine = _engine(request)
    report = await _reports(request).improvement(today=engine.clock().date(), days=days, category=category)
    return {"days": days, "markers": report}


@router.get("/reports/top-fingerprints", summary="Most recurring problems")
async def get_top_fingerprints(
    request: Request,
    principal: ReportsReader,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
    days: Annotated[int | None, Query(ge=1, le=3660)] = None,
) -> dict[str, Any]:
    """Fingerprints by occurrences (last seen within ``days`` when given)."""
    _, engine = _engine(request)
    since = engine.clock() - timedelta(days=days) if days else None
    return {"fingerprints": await _reports(request).top_fingerprints(limit=limit, since=since)}


@router.get("/markers", summary="Change markers")
async def get_markers(
    request: Request,
    principal: ReportsReader,
    category: Annotated[str | None, Query(pattern=ID_SHAPE.pattern)] = None,
) -> dict[str, Any]:
    """Every marker (of ``category``), oldest first."""
    _, engine = _engine(request)
    return {"markers": [marker_json(m) for m in await engine.store.markers(category)]}


@router.post("/markers", status_code=201, summary="Add a change marker")
async def post_marker(request: Request, principal: MarkersWriter, body: MarkerRequest) -> dict[str, Any]:
    """Save a marker (its note redacted) and audit it."""
    runtime, engine = _engine(request)
    note = redact_note(runtime.keys, body.note)
    marker = await engine.store.add_marker(body.category, body.date, note, principal.actor, engine.clock())
    await runtime.audit.record(
        "marker.added",
        actor=principal.actor,
        marker_id=marker.id,
        category=marker.category,
        day=body.date.isoformat(),
    )
    return marker_json(marker)
