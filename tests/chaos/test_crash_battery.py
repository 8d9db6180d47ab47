"""Crash battery: a real ``rcmgw serve`` under mixed load (HTTP events, MLLP, X12 inbox files, FHIR
polling against a fake FHIR server) is killed with SIGKILL at seeded random points and restarted,
cycle after cycle, with delivery to the file sink running all along. At the end every input that was
acknowledged (202 / AA / moved to done / behind the committed FHIR cursor) is a delivered ticket, no
ticket is in the outbox twice, and no canary PHI is on any channel. See docs/chaos.md.

The reduced run (3 cycles) is part of ``make test``; ``make chaos`` runs 20 (RCMGW_CHAOS_FULL=1).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from chaoskit import (
    INBOX_TICKETS,
    FakeFhirServer,
    HttpLoader,
    InboxLoader,
    MllpLoader,
    Target,
    resource_id,
)
from gatewayproc import GatewayProcess, mint_token, start_gateway, wait_until
from testkit import find_canaries

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]


def _env(config: Path) -> dict[str, str]:
    return {
        "RCMGW_CONFIG": str(config),
        # Every acknowledged input must come out as its own ticket, so the dedup lifecycle (which
        # folds repeats of one problem into one ticket) is off; tests/gateway/test_lifecycle_pipeline.py
        # covers it.
        "RCMGW_LIFECYCLE__ENABLED": "false",
        "RCMGW_INBOX__POLL_INTERVAL": "0.05",
        "RCMGW_INBOX__SETTLE_POLLS": "1",
        # Entries leased by a killed process are offered again after the lease: keep it short.
        "RCMGW_SPOOL__LEASE_SECONDS": "1",
        "RCMGW_SPOOL__SCHEDULE_SECONDS": "[0.2]",
    }


def _token(home: Path) -> str:
    return mint_token(home, "chaos", "events:write")


def _tickets(gateway: GatewayProcess) -> list[dict[str, object]]:
    return [json.loads(line) for line in gateway.outbox_lines()]


def _control(ticket: dict[str, object], key: str) -> str | None:
    source = ticket["source"]
    assert isinstance(source, dict)
    value = source.get("control_ids", {}).get(key)
    return str(value) if value is not None else None


def test_sigkill_under_mixed_load_loses_no_acknowledged_input(
    tmp_path: Path, chaos_seed: int, chaos_cycles: int
) -> None:
    rng = random.Random(chaos_seed)
    context = f"seed {chaos_seed}, {chaos_cycles} cycles"
    home = tmp_path / "var"
    home.mkdir()
    fhir = FakeFhirServer(per_poll=2)
    config = tmp_path / "gateway.yaml"
    config.write_text(json.dumps({"fhir": {"instances": [fhir.instance_config()]}}), "utf-8")
    env = _env(config)
    cursors = home / "fhir" / "cursors.db"

    target = Target()
    gateway = start_gateway(home, **env)
    token = _token(home)
    run = f"{chaos_seed % 100000:05d}"
    http = HttpLoader(target, token, run)
    mllp = MllpLoader(target, run)
    inbox = InboxLoader(target, home / "inbox" / "x12", first=1)
    loaders = (http, mllp, inbox)
    outputs: dict[str, bytes] = {}
    kills: list[str] = []

    def acknowledged() -> int:
        return len(http.acked) + len(mllp.acked) + len(inbox.acknowledged()) + len(fhir.acknowledged(cursors))

    try:
        for loader in loaders:
            loader.start()
        for cycle in range(chaos_cycles):
            if cycle:
                gateway = start_gateway(home, **env)
            target.point(gateway.base_url, gateway.mllp_port)
            # The kill point: after a random number of further acknowledgements (0: during recovery).
            more = rng.choice([0, *range(1, 80)])
            start = acknowledged()
            wait_until(lambda s=start, m=more: acknowledged() >= s + m, 120, f"{more} acks ({context})")
            gateway.kill9()
            target.point(None, None)
            kills.append(f"cycle {cycle}: after {more} acks (total {acknowledged()})")
            out, err = gateway.stop()
            outputs[f"stdout-{cycle}"], outputs[f"stderr-{cycle}"] = out, err
        # The last start: the load goes on until every source has been acknowledged at least once
        # (a run of early kills may not have got that far), then stops; delivery drains the spool
        # and the inbox finishes every dropped file.
        final = start_gateway(home, **env)
        try:
            target.point(final.base_url, final.mllp_port)
            wait_until(
                lambda: bool(
                    http.acked and mllp.acked and inbox.acknowledged() and fhir.acknowledged(cursors)
                ),
                120,
                f"an acknowledgement from every source ({context})",
            )
            for loader in loaders:
                loader.stop()
            target.point(None, None)
            done = home / "inbox" / "x12" / "done"
            wait_until(
                lambda: inbox.acknowledged() == set(inbox.dropped), 120, f"every inbox file done ({context})"
            )
            fhir.paused = True  # nothing new: the cursor settles
            acked_http = set(http.acked.values())
            acked_mllp = set(mllp.acked)
            acked_files = inbox.acknowledged()

            def missing() -> dict[str, int]:
                tickets = _tickets(final)
                ids = {str(t["id"]) for t in tickets}
                controls = Counter(
                    (key, _control(t, key)) for t in tickets for key in ("MSH-10", "ISA13", "fhir_resource")
                )
                fhir_acked = fhir.acknowledged(cursors)
                return {
                    "http": len(acked_http - ids),
                    "mllp": sum(1 for c in acked_mllp if controls[("MSH-10", c)] == 0),
                    "inbox": sum(1 for n in acked_files if controls[("ISA13", f"{n:09d}")] < INBOX_TICKETS),
                    "fhir": sum(
                        1 for r in fhir_acked if controls[("fhir_resource", f"ClaimResponse/{r}")] == 0
                    ),
                }

            wait_until(
                lambda: not any(missing().values()), 180, f"every acknowledged input delivered ({context})"
            )
            fhir_acked = fhir.acknowledged(cursors)
        finally:
            out, err = final.stop()
            outputs["stdout-final"], outputs["stderr-final"] = out, err
    finally:
        for loader in loaders:
            loader.stop()
        fhir.stop()

    tickets = _tickets(final)
    counts = Counter(str(t["id"]) for t in tickets)
    twice = {ticket_id: n for ticket_id, n in counts.items() if n > 1}
    assert twice == {}, f"tickets delivered twice ({context}): {twice}"
    assert http.unexpected == [], f"HTTP answers other than 202/503 ({context})"
    assert missing_none(acked_http, acked_mllp, acked_files, fhir_acked, tickets), context
    # Every source was exercised: something of each kind was acknowledged.
    assert acked_http and acked_mllp and acked_files and fhir_acked, (
        f"a source got no acknowledgement ({context}): http {len(acked_http)}, mllp {len(acked_mllp)}, "
        f"inbox {len(acked_files)}, fhir {len(fhir_acked)}"
    )
    assert {resource_id(0)} <= fhir_acked
    assert done.is_dir() and not list((home / "inbox" / "x12" / "processing").iterdir())

    exposed = dict(outputs)
    exposed["outbox"] = "\n".join(final.outbox_lines()).encode()
    for path in home.rglob("*"):
        if path.is_file() and "inbox" not in path.parts and "keys" not in path.parts:
            exposed[str(path.relative_to(home))] = path.read_bytes()
    leaks = {where: found for where, found in ((w, find_canaries(d)) for w, d in exposed.items()) if found}
    assert leaks == {}, f"canary PHI leaked ({context})"
    print(f"[chaos] {context}: kills {kills}")
    print(
        f"[chaos] acknowledged http {len(acked_http)} (resent dup {http.duplicates}), "
        f"mllp {len(acked_mllp)}, inbox files {len(acked_files)}, fhir {len(fhir_acked)}; "
        f"tickets {len(tickets)}"
    )


def missing_none(
    http: set[str], mllp: set[str], files: set[int], fhir: set[str], tickets: list[dict[str, object]]
) -> bool:
    """Every acknowledged input has its ticket(s) in ``tickets``."""
    ids = {str(t["id"]) for t in tickets}
    msh = {_control(t, "MSH-10") for t in tickets}
    isa = Counter(_control(t, "ISA13") for t in tickets)
    res = {_control(t, "fhir_resource") for t in tickets}
    return (
        http <= ids
        and mllp <= msh
        and all(isa[f"{n:09d}"] == INBOX_TICKETS for n in files)
        and {f"ClaimResponse/{r}" for r in fhir} <= res
    )
