"""The inbox on a real ``rcmgw serve``: kill -9 while a large file is half spooled; after the
restart every record is delivered exactly once, and canary PHI from the file reaches no outbox,
log, audit database or console."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gatewayproc import start_gateway, wait_until
from testkit import find_canaries
from x12gen import make_835

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]
CLAIMS = 240  # all denied: one ticket each, committed in batches of 40
# Every record of the file must come out as its own ticket here, so the dedup lifecycle (which
# folds repeats of one problem) is off; tests/gateway/test_lifecycle_pipeline.py covers it.
FAST_INBOX = {
    "RCMGW_LIFECYCLE__ENABLED": "false",
    "RCMGW_INBOX__POLL_INTERVAL": "0.05",
    "RCMGW_X12__BATCH_SIZE": "40",
}


def _drop(inbox: Path, name: str, data: bytes) -> None:
    inbox.mkdir(parents=True, exist_ok=True)
    temp = inbox / f".{name}.tmp"
    temp.write_bytes(data)
    temp.rename(inbox / name)  # the writer protocol: temporary name, then rename


def test_kill9_mid_file_then_restart_delivers_every_record_once(home: Path) -> None:
    inbox = home / "inbox" / "x12"
    log = home / "log" / "gateway.log"
    # Delivery off in the first process: entries it leased would wait out their lease after the kill.
    first = start_gateway(home, RCMGW_DELIVERY_ENABLED="false", **FAST_INBOX)
    try:
        _drop(inbox, "big.835", make_835(CLAIMS, 1.0, canary=True))
        wait_until(lambda: log.is_file() and '"tickets spooled"' in log.read_text("utf-8"), 60.0, "a batch")
        first.kill9()
    finally:
        first.stop()
    batches = log.read_text("utf-8").count('"tickets spooled"')
    assert 0 < batches < CLAIMS // 40, "killed while the file was half spooled"
    assert [p.name for p in (inbox / "processing").iterdir()] == ["big.835"]
    assert not list((inbox / "done").iterdir())

    second = start_gateway(home, **FAST_INBOX)
    try:
        wait_until(lambda: [p.name for p in (inbox / "done").iterdir()] == ["big.835"], 90.0, "done/")
        wait_until(lambda: len(second.outbox_lines()) >= CLAIMS, 60.0, "every ticket delivered")
    finally:
        out, err = second.stop()
    lines = second.outbox_lines()
    ids = [json.loads(line)["id"] for line in lines]
    assert len(ids) == CLAIMS and len(set(ids)) == CLAIMS, "each record delivered exactly once"
    assert list((inbox / "processing").iterdir()) == []

    exposed = {"outbox": "\n".join(lines).encode(), "stdout": out, "stderr": err}
    for path in [*(home / "log").rglob("*"), *(home / "audit").rglob("*"), *(home / "spool").rglob("*")]:
        if path.is_file():
            exposed[str(path.relative_to(home))] = path.read_bytes()
    leaks = {where: found for where, data in exposed.items() if (found := find_canaries(data))}
    assert leaks == {}
