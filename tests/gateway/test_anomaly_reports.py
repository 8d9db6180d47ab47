"""Tickets per 1,000 claims, improvement around change markers, top fingerprints: the numbers on
small fixtures, over HTTP (scoped) and the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from testkit import REPO, canary_event, find_canaries
from x12gen import denied_count, make_835

from gateway.anomaly_reports import improvement, per_1000_claims
from gateway.anomaly_store import ChangeMarker
from gateway.runtime import Runtime

D1, D2 = date(2026, 6, 1), date(2026, 6, 2)
RCMGW = REPO / ".venv" / "bin" / "rcmgw"


def test_per_1000_claims_on_a_small_fixture() -> None:
    tickets = [
        ("87726", "denial-management", D1, 5, 12),
        ("87726", "payment-posting", D2, 1, 1),
        ("60054", "denial-management", D1, 2, 2),
        ("none", "integration-interface", D1, 3, 3),  # no 835 claims: no rate
    ]
    claims = [("87726", D1, 2000), ("87726", D2, 500), ("60054", D1, 400), ("99999", D1, 100)]
    report = per_1000_claims(tickets, claims)
    rows = {row["payer"]: row for row in report["rows"]}  # type: ignore[attr-defined]
    assert rows["87726"]["claims"] == 2500
    assert rows["87726"]["tickets_opened"] == 6
    assert rows["87726"]["tickets_per_1000_claims"] == 2.4
    assert rows["87726"]["occurrences_per_1000_claims"] == 5.2
    assert rows["60054"]["tickets_per_1000_claims"] == 5.0
    assert rows["99999"]["tickets_per_1000_claims"] == 0.0
    assert rows["none"]["tickets_per_1000_claims"] is None
    assert report["total"] == {
        "claims": 3000,
        "tickets_opened": 8,
        "occurrences": 15,
        "tickets_per_1000_claims": 2.667,
        "occurrences_per_1000_claims": 5.0,
    }
    by_category = per_1000_claims(tickets, claims, by="payer_category")
    pairs = {(r["payer"], r["category"]): r for r in by_category["rows"]}  # type: ignore[attr-defined]
    assert pairs[("87726", "denial-management")]["tickets_per_1000_claims"] == 2.0
    assert pairs[("87726", "payment-posting")]["tickets_per_1000_claims"] == 0.4


def test_improvement_before_and_after_a_marker() -> None:
    marker = ChangeMarker(
        1, "denial-management", D1, "front-end edit for CO-16", "ri", datetime(2026, 6, 1, tzinfo=UTC)
    )
    tickets = [
        ("87726", "denial-management", D1 - timedelta(days=10), 20, 20),
        ("60054", "denial-management", D1 - timedelta(days=89), 10, 10),
        ("87726", "denial-management", D1 - timedelta(days=91), 99, 99),  # outside the window
        ("87726", "payment-posting", D1 - timedelta(days=5), 50, 50),  # another category
        ("87726", "denial-management", D1, 4, 4),
        ("87726", "denial-management", D1 + timedelta(days=30), 6, 6),
    ]
    claims = [("87726", D1 - timedelta(days=40), 10_000), ("87726", D1 + timedelta(days=20), 10_000)]
    (report,) = improvement([marker], tickets, claims, today=D1 + timedelta(days=200), days=90)
    assert report["before"] == {
        "start": "2026-03-03",
        "end": "2026-06-01",
        "days": 90,
        "tickets_opened": 30,
        "claims": 10_000,
        "tickets_per_1000_claims": 3.0,
    }
    after = report["after"]
    assert after["tickets_opened"] == 10 and after["tickets_per_1000_claims"] == 1.0  # type: ignore[index]
    assert report["change_pct"] == -66.7
    (partial,) = improvement([marker], tickets, claims, today=D1 + timedelta(days=9), days=90)
    assert partial["after"]["days"] == 10  # type: ignore[index]
    assert partial["after"]["tickets_opened"] == 4  # type: ignore[index]


def _headers(runtime: Runtime, *scopes: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {runtime.issuer.mint('ri-analyst', list(scopes))}"}


def test_reports_over_http_from_a_real_835(client: TestClient, runtime: Runtime) -> None:
    writer = _headers(runtime, "events:write")
    reader = _headers(runtime, "reports:read")
    posted = client.post(
        "/v1/ingest/x12",
        content=make_835(200, 0.3),
        headers={**writer, "Content-Type": "application/edi-x12"},
    )
    assert posted.status_code == 202, posted.text
    for index in range(3):
        assert client.post("/v1/events", json=canary_event(f"r-{index}"), headers=writer).status_code == 202
    assert runtime.anomaly is not None
    asyncio.run(runtime.anomaly.flush())

    report = client.get("/v1/reports/per-1000-claims", headers=reader)
    assert report.status_code == 200, report.text
    rows = {row["payer"]: row for row in report.json()["rows"]}
    row = rows["87726"]
    denied = denied_count(200, 0.3)
    assert row["claims"] == 200
    assert row["occurrences"] == denied + 3
    assert row["occurrences_per_1000_claims"] == (denied + 3) * 5
    assert row["tickets_opened"] == 2  # CO-97 denials fold into one ticket, the canaries into one

    top = client.get("/v1/reports/top-fingerprints?limit=1", headers=reader).json()["fingerprints"]
    assert top[0]["occurrences"] == denied
    assert client.get("/v1/anomalies", headers=reader).json() == {"anomalies": []}
    assert client.get("/v1/reports/per-1000-claims", headers=writer).status_code == 403
    assert not find_canaries(report.text)


def test_markers_over_http_scoped_audited_and_redacted(client: TestClient, runtime: Runtime) -> None:
    writer = _headers(runtime, "markers:write")
    reader = _headers(runtime, "reports:read")
    body = {
        "category": "denial-management",
        "date": "2026-06-01",
        "note": "Edit added; caller (617) 555-0143, SSN 219-09-9999, chart MRN88812345",
    }
    assert client.post("/v1/markers", json=body, headers=reader).status_code == 403
    created = client.post("/v1/markers", json=body, headers=writer)
    assert created.status_code == 201, created.text
    assert created.json()["category"] == "denial-management"
    assert "Edit added" in created.json()["note"]
    assert not find_canaries(created.text)
    bad = client.post("/v1/markers", json={**body, "date": "June 1st"}, headers=writer)
    assert bad.status_code == 400
    listed = client.get("/v1/markers", headers=reader).json()["markers"]
    assert [m["date"] for m in listed] == ["2026-06-01"]
    report = client.get("/v1/reports/improvement?days=30", headers=reader).json()
    assert report["markers"][0]["before"]["days"] == 30
    (audited,) = runtime.audit.records(event="marker.added")
    assert audited.actor == "ri-analyst"
    assert audited.details["category"] == "denial-management"
    assert not find_canaries(json.dumps(audited.details))


def _rcmgw(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCMGW_")}
    env["RCMGW_HOME"] = str(home)
    return subprocess.run(
        [str(RCMGW), *args], capture_output=True, text=True, cwd=REPO, env=env, check=False, timeout=60
    )


def test_cli_markers_and_reports(home: Path) -> None:
    added = _rcmgw(
        home,
        "markers",
        "add",
        "--category",
        "denial-management",
        "--date",
        "2026-06-01",
        "--note",
        "new edit",
    )
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["note"] == "new edit"
    listed = _rcmgw(home, "markers", "list")
    assert [m["category"] for m in json.loads(listed.stdout)] == ["denial-management"]
    bad = _rcmgw(home, "markers", "add", "--category", "x y", "--date", "2026-06-01", "--note", "n")
    assert bad.returncode == 2 and "category" in bad.stderr
    bad_date = _rcmgw(home, "markers", "add", "--category", "a", "--date", "06/01/2026", "--note", "n")
    assert bad_date.returncode == 2 and "YYYY-MM-DD" in bad_date.stderr
    improvement_out = _rcmgw(home, "report", "improvement", "--days", "30")
    assert json.loads(improvement_out.stdout)[0]["marker"]["category"] == "denial-management"
    per_1000 = _rcmgw(home, "report", "per-1000-claims", "--start", "2026-01-01", "--end", "2026-02-01")
    assert json.loads(per_1000.stdout)["total"]["claims"] == 0
    for command in (("report", "anomalies"), ("report", "top-fingerprints")):
        result = _rcmgw(home, *command)
        assert result.returncode == 0 and json.loads(result.stdout) == [], result.stderr
