"""PostgreSQL restarted under load (``pg_ctl restart -m fast``) beneath a real ``rcmgw serve`` on the
PostgreSQL spool: while the server is down nothing is acknowledged (503 / MLLP AE), the gateway
reconnects by itself, and every input acknowledged before, during and after is delivered once."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import httpx
import pytest
from chaoskit import HttpLoader, MllpLoader, Target
from gatewayproc import mint_token, start_gateway, wait_until
from pgserver import PgServer, _as_user, running_pg
from testkit import find_canaries

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]


def _restart(server: PgServer) -> None:
    """``pg_ctl restart -m fast`` (the server keeps its options; its log goes to its file)."""
    pg_ctl = str(server.bin_dir / "pg_ctl")
    argv = [pg_ctl, "-D", str(server.data), "-m", "fast", "-l", str(server.root / "pg.log"), "-w", "restart"]
    subprocess.run(_as_user(argv), capture_output=True, check=True, timeout=120)


def test_postgres_restart_under_load_loses_no_acknowledged_input(
    home: Path, chaos_seed: int, chaos_size: int
) -> None:
    rng = random.Random(chaos_seed)
    with running_pg() as server:  # a cluster of its own: the session's is shared with other tests
        dsn = server.create_database("chaos_restart")
        env = {
            "RCMGW_SPOOL__BACKEND": "postgresql",
            "RCMGW_SPOOL__DSN": "env:RCMGW_TEST_PG_DSN",
            "RCMGW_TEST_PG_DSN": dsn,
            "RCMGW_LIFECYCLE__ENABLED": "false",  # one ticket per input: the count is exact
            "RCMGW_SPOOL__SCHEDULE_SECONDS": "[0.2]",
        }
        gateway = start_gateway(home, **env)
        token = mint_token(home, "pg-restart", "events:write", env=env)
        target = Target()
        target.point(gateway.base_url, gateway.mllp_port)
        http = HttpLoader(target, token.strip(), "pg")
        mllp = MllpLoader(target, "pg")
        try:
            http.start()
            mllp.start()
            for restart in range(2 * chaos_size):
                before = len(http.acked) + len(mllp.acked)
                more = rng.randint(5, 40)
                wait_until(lambda b=before, m=more: len(http.acked) + len(mllp.acked) >= b + m, 60, "load")
                _restart(server)
                after = len(http.acked) + len(mllp.acked)
                wait_until(
                    lambda a=after: len(http.acked) + len(mllp.acked) >= a + 10,
                    60,
                    f"acknowledgements after restart {restart} (seed {chaos_seed})",
                )
            http.stop()
            mllp.stop()
            acked_http = set(http.acked.values())
            acked_mllp = set(mllp.acked)

            def delivered() -> list[dict[str, object]]:
                return [json.loads(line) for line in gateway.outbox_lines()]

            def all_there() -> bool:
                tickets = delivered()
                ids = {str(t["id"]) for t in tickets}
                msh = {t["source"]["control_ids"].get("MSH-10") for t in tickets}  # type: ignore[index]
                return acked_http <= ids and acked_mllp <= msh

            wait_until(all_there, 60, f"every acknowledged input delivered (seed {chaos_seed})")
            assert httpx.get(f"{gateway.base_url}/readyz", timeout=10).status_code == 200
        finally:
            http.stop()
            mllp.stop()
            out, err = gateway.stop()
    tickets = delivered()
    ids = [str(t["id"]) for t in tickets]
    assert len(ids) == len(set(ids)), "a ticket was delivered twice"
    assert http.unexpected == []
    assert len(tickets) == len(acked_http) + len(acked_mllp)
    log = home / "log" / "gateway.log"
    # The outage is answered as "not accepted, retry" everywhere, never as an unexpected failure.
    assert b'"mllp handler failed"' not in log.read_bytes()
    assert find_canaries(out + err + log.read_bytes() + "\n".join(gateway.outbox_lines()).encode()) == []
    print(  # the run's record, shown with -s
        f"[chaos] pg restart x{2 * chaos_size}: acked http {len(acked_http)} (503s {http.unavailable}), "
        f"mllp {len(acked_mllp)} (AE {mllp.transient})"
    )
