"""Every HL7 v2 file of the shared corpus gets an answer: AA, or AE/AR with an ERR saying why.

Each file goes through the HTTP/MLLP intake as one input; every message in it must be answered,
rejected messages quarantined, and nothing may crash or hang. The whole corpus is also streamed
over one MLLP connection.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from hl7kit import ack_messages, mllp_exchange, running
from testkit import CORPUS, REPO

from adapters.hl7v2.message import split_envelope
from gateway.hl7_intake import Hl7Intake
from gateway.settings import Settings

# In a git worktree (../wt/<name>) the shared corpus is one level further up.
HL7_DIR = (CORPUS if CORPUS.is_dir() else REPO.parents[1] / "shared" / "corpus") / "hl7v2"
FILES = sorted(HL7_DIR.iterdir()) if HL7_DIR.is_dir() else []
pytestmark = pytest.mark.corpus


def _require_corpus() -> None:
    if not FILES:
        if os.environ.get("CI") == "true":
            pytest.fail(f"HL7 v2 corpus missing at {HL7_DIR}")
        pytest.skip("HL7 v2 corpus not present")


def _check_answer(path: Path, payload: bytes) -> list[str]:
    acks = ack_messages(payload)
    expected = len(split_envelope(path.read_bytes()).chunks)
    assert len(acks) == expected, f"{path.name}: {len(acks)} ACKs for {expected} messages"
    codes = []
    for ack in acks:
        msa = ack.first("MSA")
        assert msa is not None, path.name
        code = msa.value(1)
        assert code in {"AA", "AE", "AR", "CA", "CE", "CR"}, path.name
        if code not in ("AA", "CA"):
            err = ack.first("ERR")
            assert err is not None and (err.value(8) or err.value(1, 4, 2)), f"{path.name}: no ERR text"
        codes.append(code)
    return codes


def test_every_corpus_file_is_answered(settings: Settings) -> None:
    _require_corpus()

    async def run() -> dict[str, list[str]]:
        async with running(
            settings.model_copy(update={"mllp": settings.mllp.model_copy(update={"port": 0})})
        ) as gw:
            intake = Hl7Intake(gw.runtime.pipeline, gw.runtime.quarantine, settings.mllp.tickets)
            results = {}
            for path in FILES:
                result = await asyncio.wait_for(intake.handle(path.read_bytes()), 30)
                results[path.name] = _check_answer(path, result.payload)
            return results

    results = asyncio.run(run())
    assert len(results) == len(FILES)
    rejected = {name for name, codes in results.items() if set(codes) & {"AE", "AR", "CE", "CR"}}
    # The deliberately broken files are among the rejected ones; real messages are accepted.
    assert {name for name in results if name.startswith("nhapi__fuzz_")} <= rejected
    assert "ipf__hl7_msg-04_unknown_type.hl7" in rejected
    assert results["ipf__hl7_msg-04_unknown_type.hl7"] == ["AR"]
    assert results["fhirconv__DFT-P03-01.hl7"] == ["AA"]
    assert len(results["mirth__TestADT.txt"]) == 124
    quarantined = list((settings.home / "quarantine").glob("*.bin"))
    assert len(quarantined) == sum(
        1 for codes in results.values() for code in codes if code not in ("AA", "CA")
    )


def test_corpus_streamed_over_one_mllp_connection(settings: Settings) -> None:
    _require_corpus()

    async def run() -> list[bytes]:
        mllp = settings.mllp.model_copy(update={"port": 0})
        async with running(settings.model_copy(update={"mllp": mllp})) as gw:
            return await mllp_exchange(gw.port, [path.read_bytes() for path in FILES], read_timeout=60)

    answers = asyncio.run(run())
    assert len(answers) == len(FILES)
    for path, answer in zip(FILES, answers, strict=True):
        _check_answer(path, answer)
