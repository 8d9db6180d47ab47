"""Streamed HL7 v2 batches (`gateway.hl7_batch`): the same answers and tickets as the one-shot
intake, one commit per batch of messages, a bad message quarantined without sinking its
neighbours, nothing acknowledged when the spool cannot commit, bounded memory for a 20,000-message
file, and a ``kill -9`` in the middle of ``rcmgw ingest`` followed by a re-ingest spooling every
message exactly once."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from gatewayproc import wait_until
from hl7kit import ack_messages
from testkit import REPO, find_canaries

from fallback.errors import SpoolUnavailable
from gateway.app import create_app
from gateway.auth.scopes import Scope
from gateway.hl7_batch import Hl7BatchOutcome, ingest_hl7_file, ingest_hl7_stream
from gateway.hl7_intake import Hl7Intake
from gateway.runtime import Runtime
from gateway.settings import Settings

FIXTURES = REPO / "fixtures" / "hl7v2"
RCMGW = Path(sys.executable).parent / "rcmgw"
BAD = b"MSH|^~\\&|EPIC|HOSP|BILL|FAC|20261101120000||DFT^P03|BAD0001|P|2.5.1\rPID|1\rFT1|\x01\r"


def dft(control_id: str, *, code: str = "", facility: str = "HOSP") -> bytes:
    """A DFT^P03 whose first charge has no code (CHARGE-CODE-MISSING), PHI in PID."""
    return (
        f"MSH|^~\\&|EPIC|{facility}|BILL|FAC|20261101120000||DFT^P03^DFT_P03|{control_id}|P|2.5.1\r"
        "EVN|P03|20261101120000\r"
        "PID|1||MRN55501^^^HOSP^MR||QUIXOTE^ZEBEDIAH||19570314|M|||1 Way^^Town^MA||(617)555-0143|||||"
        f"ACCT{control_id}\r"
        "PV1|1|O|CLINIC^^^HOSP||||1234^WELBY^MARCUS||||||||||||VIS88001\r"
        f"FT1|1|T1001||20261101|20261101|CG|{code}|||2|200.00|100.00\r"
    ).encode()


def batch(messages: list[bytes]) -> bytes:
    return (
        b"FHS|^~\\&|EPIC\r\nBHS|^~\\&|EPIC\r\n"
        + b"".join(messages)
        + f"BTS|{len(messages)}\rFTS|1\r".encode()
    )


def mixed_batch() -> bytes:
    messages = [(FIXTURES / name).read_bytes() for name in ("ack-ae-err-v23.hl7", "ack-ar-err-v25.hl7")]
    messages += [dft(f"MIX{n:04d}", facility=f"F{n}") for n in range(5)]
    messages.insert(3, BAD)  # a bad message between good ones, inside a commit batch
    messages.insert(5, (FIXTURES / "adt-a08-no-in1.hl7").read_bytes())
    return batch(messages)


async def _intake_answers(settings: Settings, data: bytes) -> tuple[bytes, list[str]]:
    runtime = Runtime.build(settings)
    await runtime.start(delivery=False)
    try:
        result = await Hl7Intake(runtime.pipeline, runtime.quarantine, settings.mllp.tickets).handle(data)
        return result.payload, sorted(entry.ticket_id for entry in await runtime.spool.list_entries())
    finally:
        await runtime.stop()


async def _stream_answers(
    settings: Settings, data: bytes, batch_size: int
) -> tuple[list[str], list[str], Hl7BatchOutcome]:
    runtime = Runtime.build(settings)
    await runtime.start(delivery=False)
    try:
        acks: list[str] = []
        intake = Hl7Intake(runtime.pipeline, runtime.quarantine, settings.mllp.tickets)
        outcome = await ingest_hl7_stream(
            io.BytesIO(data), runtime.pipeline, intake, peer="test", on_ack=acks.append, batch_size=batch_size
        )
        return acks, sorted(entry.ticket_id for entry in await runtime.spool.list_entries()), outcome
    finally:
        await runtime.stop()


def _msa_err(payload: bytes) -> list[tuple[str, str, str]]:
    answers = []
    for ack in ack_messages(payload):
        msa, err = ack.first("MSA"), ack.first("ERR")
        assert msa is not None
        answers.append((msa.value(1), msa.value(2), err.value(3) if err is not None else ""))
    return answers


@pytest.mark.parametrize(
    "data",
    [
        b"".join(
            (FIXTURES / name).read_bytes()
            for name in (
                "ack-ae-err-v23.hl7",
                "ack-ar-err-v25.hl7",
                "dft-missing-ft1-7.hl7",
                "adt-a08-no-in1.hl7",
            )
        ),
        (FIXTURES / "batch-no-trailers.hl7").read_bytes(),
        mixed_batch(),
    ],
    ids=["golden", "batch-no-trailers", "mixed-with-bad"],
)
def test_stream_gives_the_answers_and_tickets_of_the_intake(
    settings: Settings, data: bytes, tmp_path: Path
) -> None:
    payload, tickets = asyncio.run(_intake_answers(settings, data))
    other_home = tmp_path / "other"
    other_home.mkdir()
    shutil.copytree(settings.keys_dir, other_home / settings.keys_dir.relative_to(settings.home))
    other = settings.model_copy(update={"home": other_home})
    acks, streamed, outcome = asyncio.run(_stream_answers(other, data, batch_size=2))
    assert streamed == tickets
    expected = _msa_err(payload)
    assert _msa_err("".join(acks).encode()) == expected
    assert outcome.messages == len(expected) and outcome.tickets == len(tickets)
    assert outcome.rejected == sum(1 for code, _, _ in expected if code != "AA")
    assert outcome.failure is None


def test_bad_message_is_quarantined_without_sinking_its_neighbours(settings: Settings) -> None:
    acks, tickets, outcome = asyncio.run(_stream_answers(settings, mixed_batch(), batch_size=4))
    answers = _msa_err("".join(acks).encode())
    assert [code for code, _, _ in answers] == ["AA"] * 3 + ["AE"] + ["AA"] * 5
    assert answers[3][1] == "BAD0001"
    assert len(list((settings.home / "quarantine").glob("*.bin"))) == 1
    assert outcome.commits == 3 and outcome.tickets == 8 == len(tickets)
    assert outcome.batch


def test_spool_unavailable_acknowledges_nothing(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    data = batch([dft(f"T{n}", facility=f"F{n}") for n in range(6)])

    async def run(path: Path) -> tuple[list[str], Hl7BatchOutcome]:
        runtime = Runtime.build(settings)
        await runtime.start(delivery=False)
        try:
            commits = 0
            real = runtime.spool.put_many

            async def failing_second(*args: object, **kwargs: object) -> object:
                nonlocal commits
                commits += 1
                if commits >= 2:
                    raise SpoolUnavailable("spool storage failed (SQLITE_FULL)")
                return await real(*args, **kwargs)  # type: ignore[arg-type]

            monkeypatch.setattr(runtime.spool, "put_many", failing_second)
            intake = Hl7Intake(runtime.pipeline, runtime.quarantine, settings.mllp.tickets)
            acks: list[str] = []
            outcome = await ingest_hl7_stream(
                io.BytesIO(data), runtime.pipeline, intake, peer="test", on_ack=acks.append, batch_size=2
            )
            with pytest.raises(SpoolUnavailable):
                await ingest_hl7_file(path, runtime.pipeline, intake, batch_size=2)
            return acks, outcome
        finally:
            await runtime.stop()

    path = settings.home / "batch.hl7"
    path.write_bytes(data)
    acks, outcome = asyncio.run(run(path))
    answers = _msa_err("".join(acks).encode())
    assert [code for code, _, _ in answers] == ["AA", "AA", "AE", "AE", "AE", "AE"]
    assert isinstance(outcome.failure, SpoolUnavailable)
    assert all("transient" in ack for ack in acks[2:])


def test_http_batch_is_answered_after_its_commits(settings: Settings) -> None:
    app = create_app(settings)
    with TestClient(app) as client:
        runtime: Runtime = app.state.runtime
        token = runtime.issuer.mint("hl7", [Scope.EVENTS_WRITE])
        answer = client.post(
            "/v1/ingest/hl7", content=mixed_batch(), headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200
        assert answer.content.startswith(b"BHS|") and answer.content.rstrip(b"\r").endswith(b"BTS|9")
        assert [code for code, _, _ in _msa_err(answer.content)].count("AA") == 8
        assert find_canaries(answer.content) == []


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RCMGW_")}
    env["RCMGW_HOME"] = str(home)
    env.update(extra)
    return env


def test_cli_ingests_and_dry_runs_hl7_files(home: Path) -> None:
    path = home / "nightly.hl7"
    path.write_bytes(mixed_batch())
    dry = subprocess.run(  # noqa: PLW1510 - the exit code is asserted
        [str(RCMGW), "ingest", "--dry-run", str(path)],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dry.returncode == 65, dry.stderr
    assert len(dry.stdout.splitlines()) == 8 and "input.hl7.rejected: 1 message" in dry.stderr
    done = subprocess.run(  # noqa: PLW1510 - the exit code is asserted
        [str(RCMGW), "ingest", "--json", str(path)],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 65, done.stderr
    report = json.loads(done.stdout)
    assert (report["messages"], report["tickets"], report["rejected"]) == (9, 8, 1)
    assert find_canaries(done.stdout + done.stderr + dry.stdout + dry.stderr) == []


# The child measures the growth of its peak RSS across the streamed ingest of a 20,000-message file
# (after a 500-message warm-up that loads every module and cache); one-shot parsing held ~8 kB per
# message (about 160 MB for this file). The dedup lifecycle is on, as by default: the messages are
# one problem that folds into one ticket, so the run measures reading, parsing and normalizing.
_MEMORY_CHILD = """
import asyncio, resource, sys
from pathlib import Path
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/tests"]
from gateway.settings import get_settings
from gateway.runtime import Runtime
from gateway.hl7_intake import Hl7Intake
from gateway.hl7_batch import ingest_hl7_file

def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

async def main():
    settings = get_settings(home=Path(sys.argv[2]))
    runtime = Runtime.build(settings)
    await runtime.start(delivery=False)
    intake = Hl7Intake(runtime.pipeline, runtime.quarantine, settings.mllp.tickets)
    warm = await ingest_hl7_file(Path(sys.argv[3]), runtime.pipeline, intake)
    before = rss()
    big = await ingest_hl7_file(Path(sys.argv[4]), runtime.pipeline, intake)
    print(warm.messages, big.messages, big.commits, before, rss())
    await runtime.stop()

asyncio.run(main())
"""


def test_a_large_batch_file_is_ingested_in_bounded_memory(home: Path) -> None:
    small, large = home / "warm.hl7", home / "large.hl7"
    small.write_bytes(batch([dft(f"W{n:06d}") for n in range(500)]))
    with large.open("wb") as handle:
        handle.write(b"FHS|^~\\&|EPIC\rBHS|^~\\&|EPIC\r")
        for n in range(20_000):
            handle.write(dft(f"L{n:06d}"))
    env = _env(home)
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD, str(REPO), str(home), str(small), str(large)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    warm, messages, commits, before, after = done.stdout.split()
    assert (int(warm), int(messages), int(commits)) == (500, 20_000, 40)
    assert large.stat().st_size > 6_000_000
    assert float(after) - float(before) < 30, (before, after)


def _spooled(home: Path) -> list[tuple[str, str]]:
    database = home / "spool" / "spool.db"
    if not database.exists():
        return []
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as connection:
        try:
            return sorted(connection.execute("SELECT dedup_key, ticket_id FROM payloads").fetchall())
        except sqlite3.OperationalError:
            return []  # schema not created yet


def _entries(home: Path) -> int:
    with sqlite3.connect(f"file:{home / 'spool' / 'spool.db'}?mode=ro", uri=True) as connection:
        (entries,) = connection.execute("SELECT COUNT(*) FROM entries").fetchone()
    return int(entries)


def test_kill_9_mid_file_then_re_ingest_spools_every_message_once(home: Path, tmp_path: Path) -> None:
    count = 2000
    data = batch(
        [dft(f"K{n:06d}") for n in range(count // 2)]
        + [BAD]
        + [dft(f"K{n:06d}") for n in range(count // 2, count)]
    )
    path = tmp_path / "nightly.hl7"
    path.write_bytes(data)
    env = _env(home, RCMGW_LIFECYCLE__ENABLED="false")  # one ticket per message, to count them
    child = subprocess.Popen(
        [str(RCMGW), "ingest", "--json", str(path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_until(lambda: len(_spooled(home)) >= 500 or child.poll() is not None, 120, "a first commit")
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(30)
    assert child.returncode == -signal.SIGKILL, "the ingest finished before it could be killed"
    partial = len(_spooled(home))
    assert 500 <= partial < count
    again = subprocess.run(  # noqa: PLW1510 - the exit code is asserted
        [str(RCMGW), "ingest", "--json", str(path)], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 65, again.stderr
    report = json.loads(again.stdout)
    assert (report["messages"], report["tickets"], report["rejected"]) == (count + 1, count, 1)
    assert report["new_tickets"] == count - partial
    spooled = _spooled(home)
    assert len(spooled) == count == len({ticket for _, ticket in spooled})
    clean_home = tmp_path / "clean"
    clean_home.mkdir()
    shutil.copytree(home / "keys", clean_home / "keys")
    clean = subprocess.run(  # noqa: PLW1510 - the exit code is asserted
        [str(RCMGW), "ingest", "--json", str(path)],
        env=_env(clean_home, RCMGW_LIFECYCLE__ENABLED="false"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert clean.returncode == 65, clean.stderr
    assert _spooled(clean_home) == spooled
    assert _entries(home) == _entries(clean_home) >= count  # one delivery entry per ticket and sink
