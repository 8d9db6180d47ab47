"""The watched X12 inbox: claim settled files, done/ only after the commit, quarantine bad files
encrypted with a one-line reason, no duplicates on re-read, recovery of processing/ after a crash."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from testkit import REPO, find_canaries

from fallback.errors import SpoolUnavailable
from gateway.inbox import X12Inbox, is_temporary_name
from gateway.runtime import Runtime
from gateway.settings import Settings

FIXTURES = REPO / "fixtures" / "x12"
Scenario = Callable[[X12Inbox, Runtime], Awaitable[None]]


def run_inbox(settings: Settings, scenario: Scenario, *, settle_polls: int = 1) -> None:
    async def main() -> None:
        runtime = Runtime.build(settings)
        await runtime.start(delivery=False)
        inbox = X12Inbox(settings.inbox_dir, poll_interval=3600, settle_polls=settle_polls)
        inbox.prepare(runtime)
        try:
            await scenario(inbox, runtime)
        finally:
            await runtime.stop()

    asyncio.run(main())


async def _spooled(runtime: Runtime) -> int:
    return sum(sum(states.values()) for states in (await runtime.spool.depth()).values())


def _drop(inbox: X12Inbox, fixture: str, name: str | None = None) -> Path:
    target = inbox.directory / (name or fixture)
    target.write_bytes((FIXTURES / fixture).read_bytes())
    return target


def test_a_settled_file_is_spooled_then_moved_to_done(settings: Settings) -> None:
    async def scenario(inbox: X12Inbox, runtime: Runtime) -> None:
        _drop(inbox, "denial-co97.835")
        assert await inbox.scan() == 0, "first sight: not yet known to be complete"
        assert await inbox.scan() == 1
        assert [p.name for p in inbox.done.iterdir()] == ["denial-co97.835"]
        assert list(inbox.processing.iterdir()) == [] and not (inbox.directory / "denial-co97.835").exists()
        assert await _spooled(runtime) == 1

    run_inbox(settings, scenario)


def test_a_file_still_growing_is_not_claimed(settings: Settings) -> None:
    async def scenario(inbox: X12Inbox, runtime: Runtime) -> None:
        path = _drop(inbox, "denial-co97.835")
        await inbox.scan()
        with path.open("ab") as handle:
            handle.write(b"\n")
        assert await inbox.scan() == 0
        assert await inbox.scan() == 1

    run_inbox(settings, scenario)


@pytest.mark.parametrize("name", [".hidden.835", "upload.835.tmp", "upload.part", "x.filepart"])
def test_temporary_names_are_never_claimed(settings: Settings, name: str) -> None:
    assert is_temporary_name(name)

    async def scenario(inbox: X12Inbox, runtime: Runtime) -> None:
        _drop(inbox, "denial-co97.835", name)
        for _ in range(3):
            assert await inbox.scan() == 0
        assert (inbox.directory / name).exists()

    run_inbox(settings, scenario)


def test_a_malformed_file_is_quarantined_encrypted_with_a_reason_and_good_sets_spooled(
    settings: Settings,
) -> None:
    async def scenario(inbox: X12Inbox, runtime: Runtime) -> None:
        raw = _drop(inbox, "bad-se-count.835").read_bytes()
        await inbox.scan()
        assert await inbox.scan() == 1
        assert list(inbox.done.iterdir()) == [] and list(inbox.processing.iterdir()) == []
        [reason] = inbox.quarantine_dir.glob("*.reason")
        [line] = reason.read_text("utf-8").splitlines()
        assert "interchange 000000107, segment" in json.loads(line)["reason"]
        [blob] = inbox.quarantine_dir.glob("*.bin")
        assert find_canaries(blob.read_bytes()) == [] and find_canaries(line) == []
        assert inbox._quarantine is not None and inbox._quarantine.read(blob.stem) == raw
        assert await _spooled(runtime) == 1, "the good claim of the file is spooled"

    run_inbox(settings, scenario)


def test_not_x12_is_quarantined_too(settings: Settings) -> None:
    async def scenario(inbox: X12Inbox, runtime: Runtime) -> None:
        (inbox.directory / "notes.txt").write_text("hello")
        await inbox.scan()
        assert await inbox.scan() == 1
        [reason] = inbox.quarantine_dir.glob("*.reason")
        assert "ISA" in reason.read_text("utf-8")

    run_inbox(settings, scenario)


def test_the_same_file_again_creates_no_duplicate_tickets(settings: Settings) -> None:
    async def scenario(inbox: X12Inbox, runtime: Runtime) -> None:
        _drop(inbox, "277ca-batch-a7-562.277")
        await inbox.scan()
        await inbox.scan()
        before = await _spooled(runtime)
        assert before >= 1
        _drop(inbox, "277ca-batch-a7-562.277")
        await inbox.scan()
        await inbox.scan()
        assert await _spooled(runtime) == before
        assert len(list(inbox.done.iterdir())) == 2, "the second copy is kept beside the first"

    run_inbox(settings, scenario)


def test_files_left_in_processing_are_finished_first(settings: Settings) -> None:
    async def scenario(inbox: X12Inbox, runtime: Runtime) -> None:
        (inbox.processing / "crashed.835").write_bytes((FIXTURES / "denial-co97.835").read_bytes())
        assert await inbox.scan() == 1
        assert [p.name for p in inbox.done.iterdir()] == ["crashed.835"]
        assert await _spooled(runtime) == 1

    run_inbox(settings, scenario)


def test_spool_outage_leaves_the_file_claimed_for_the_next_scan(settings: Settings) -> None:
    async def scenario(inbox: X12Inbox, runtime: Runtime) -> None:
        _drop(inbox, "denial-co97.835")
        await inbox.scan()
        await runtime.spool.aclose()
        with pytest.raises(SpoolUnavailable):
            await inbox.scan()
        assert [p.name for p in inbox.processing.iterdir()] == ["denial-co97.835"]
        assert list(inbox.done.iterdir()) == []
        await runtime.spool.open()
        assert await inbox.scan() == 1
        assert [p.name for p in inbox.done.iterdir()] == ["denial-co97.835"]

    run_inbox(settings, scenario)


def test_the_service_runs_in_the_runtime_by_default(settings: Settings) -> None:
    runtime = Runtime.build(settings)
    assert "x12-inbox" in [service.name for service in runtime.services]
    assert settings.inbox_dir == settings.home / "inbox" / "x12"


def test_the_running_service_picks_files_up(settings: Settings) -> None:
    async def main() -> None:
        runtime = Runtime.build(
            settings.model_copy(update={"inbox": settings.inbox.model_copy(update={"poll_interval": 0.02})})
        )
        await runtime.start(delivery=False)
        await runtime.start_services()
        inbox = next(service for service in runtime.services if isinstance(service, X12Inbox))
        try:
            _drop(inbox, "denial-co97.835")
            for _ in range(500):
                if list(inbox.done.iterdir()):
                    break
                await asyncio.sleep(0.01)
            assert [p.name for p in inbox.done.iterdir()] == ["denial-co97.835"]
        finally:
            await runtime.stop()

    asyncio.run(main())
