"""``rcmgw spool ...``: status, list, show, replay (by id, --all-dead, --dry-run) and purge, each
with --json; replay is audited; output carries no PHI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from datetime import timedelta
from pathlib import Path

from gatewayproc import RCMGW
from testkit import REPO, canary_event, find_canaries

from fallback.spool import DeadLetter
from gateway.runtime import Runtime
from gateway.settings import get_settings


def rcmgw(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCMGW_")}
    env["RCMGW_HOME"] = str(home)
    return subprocess.run(
        [str(RCMGW), *args], capture_output=True, text=True, cwd=REPO, env=env, check=False, timeout=60
    )


def test_spool_commands_list_show_replay_and_purge(home: Path, tmp_path: Path) -> None:
    events = []
    for i in range(3):
        path = tmp_path / f"ev{i}.json"
        path.write_text(json.dumps(canary_event(f"cli-{i}", distinct=True)))
        events.append(str(path))
    assert rcmgw(home, "ingest", *events).returncode == 0

    # dead-letter one entry, as a failing sink would
    async def bury() -> str:
        runtime = Runtime.build(get_settings(home=home))
        await runtime.spool.open()
        try:
            (entry,) = await runtime.spool.lease("file", owner="t", limit=1, lease_for=timedelta(minutes=1))
            await runtime.spool.settle(
                entry.entry_id, owner="t", outcome=DeadLetter(reason="delivery.permanent")
            )
            return entry.entry_id
        finally:
            await runtime.spool.aclose()

    dead_id = asyncio.run(bury())
    status = json.loads(rcmgw(home, "spool", "status", "--json").stdout)
    assert status["sinks"]["file"]["dead_letters"] == 1
    assert status["sinks"]["file"]["counts"]["pending"] == 2
    listed = json.loads(rcmgw(home, "spool", "list", "--state", "dead", "--json").stdout)["entries"]
    assert [e["entry_id"] for e in listed] == [dead_id]
    shown = rcmgw(home, "spool", "show", dead_id, "--json")
    assert json.loads(shown.stdout)["ticket"]["id"] == listed[0]["ticket_id"]
    dry = json.loads(rcmgw(home, "spool", "replay", "--all-dead", "--dry-run", "--json").stdout)
    assert dry["replayed"] == [dead_id] and dry["dry_run"] is True
    assert json.loads(rcmgw(home, "spool", "list", "--state", "dead", "--json").stdout)["entries"] != []
    done = json.loads(rcmgw(home, "spool", "replay", "--all-dead", "--actor", "oncall", "--json").stdout)
    assert done["replayed"] == [dead_id]
    assert json.loads(rcmgw(home, "spool", "list", "--state", "dead", "--json").stdout)["entries"] == []
    human = rcmgw(home, "spool", "replay", dead_id)
    assert human.returncode == 0 and "replayed 0 of 1" in human.stdout  # pending now: nothing to do
    assert rcmgw(home, "spool", "replay").returncode == 2
    purged = json.loads(rcmgw(home, "spool", "purge", "--older-than-days", "0", "--json").stdout)
    assert purged["entries"] == 0  # nothing delivered yet
    runtime = Runtime.build(get_settings(home=home))
    runtime.audit.open()
    records = runtime.audit.records(event="spool.replayed")
    runtime.audit.close()
    assert [(r.actor, r.details["entry_id"]) for r in records] == [("oncall", dead_id)]
    for out in (shown.stdout, json.dumps(listed), json.dumps(status)):
        assert find_canaries(out) == []
