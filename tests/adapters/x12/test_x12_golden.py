"""Golden tests: scenario-named X12 fixtures (fixtures/x12/) through reader, normalizer and sealer,
driven by one parametrized test and one assertion helper."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from testkit import REPO, find_canaries

from adapters.x12.context import EVIDENCE, X12Problem
from adapters.x12.reader import read_x12
from gateway.keys import load_or_create_keys
from gateway.runtime import build_sealer
from normalizers.normalizer import Normalizer

FIXTURES = REPO / "fixtures" / "x12"


@dataclass(frozen=True)
class Expect:
    record_types: tuple[str, ...]
    category: str | None = None
    first_code: tuple[str, str] | None = None
    priority: str = "normal"
    children: int = 0
    problem: str | None = None


CASES = {
    "denial-co97.835": Expect(("x12-835-claim",), "denial-management", ("CARC", "97")),
    "timely-filing-co29.835": Expect(("x12-835-claim",), "denial-management", ("CARC", "29")),
    "reversal-22.835": Expect(("x12-835-claim",), "denial-management", ("835-CLP02", "22")),
    "line-denied-co97.835": Expect(("x12-835-line",), "denial-management", ("835-LINE", "CO-97@HC:97110")),
    "lines-all-denied-co50.835": Expect(("x12-835-claim",), "denial-management", ("CARC", "50")),
    "lines-mixed-reasons.835": Expect(("x12-835-claim", "x12-835-line"), "denial-management", ("CARC", "97")),
    "plb-wo.835": Expect(("x12-835-payment", "x12-835-plb"), "payment-posting", ("PLB", "WO")),
    "unbalanced.835": Expect(
        ("x12-835-payment", "x12-835-unbalanced"), "payment-posting", ("X12-835", "unbalanced"), "high"
    ),
    "paid-routine.835": Expect(("x12-835-payment",)),
    "paid-after-denial.835": Expect(("x12-835-payment",)),
    "bad-se-count.835": Expect(
        ("x12-835-claim",), "denial-management", ("CARC", "16"), problem="SE01 says 99 segments"
    ),
    "277ca-a7-562.277": Expect(("x12-277ca-rejection",), "claims-processing", ("277-STC", "A7:562:85")),
    "277ca-batch-a7-562.277": Expect(
        ("x12-277ca-rejection",), "claims-processing", ("277-STC", "A7:562:85"), children=3
    ),
    "277ca-accepted.277": Expect(("x12-277ca-acceptance",)),
    "277ca-resubmitted-accepted.277": Expect(("x12-277ca-acceptance",)),
    "999-ik4-bad-date.999": Expect(("x12-999-rejection",), "integration-interface", ("X12-IK4", "8")),
    "997-ak3-missing.997": Expect(("x12-999-rejection",), "integration-interface", ("X12-IK3", "3")),
    "ta1-r-006.ta1": Expect(("x12-ta1-rejection",), "integration-interface", ("TA1", "006"), "high"),
}


def _tickets(path: Path, tmp_path: Path) -> tuple[list[str], list[dict[str, object]], list[str]]:
    normalizer, sealer = Normalizer(), build_sealer(load_or_create_keys(tmp_path / "keys"))
    types: list[str] = []
    tickets: list[dict[str, object]] = []
    problems: list[str] = []
    with path.open("rb") as handle:
        for item in read_x12(handle):
            if isinstance(item, X12Problem):
                problems.append(str(item))
                continue
            types.append(item.record_type)
            if not item.facts.get(EVIDENCE):
                tickets.append(json.loads(sealer.seal(normalizer.normalize(item)).ticket.body))
    return types, tickets, problems


def assert_golden(name: str, expect: Expect, tmp_path: Path) -> None:
    path = FIXTURES / name
    types, tickets, problems = _tickets(path, tmp_path)
    assert tuple(types) == expect.record_types
    if expect.problem:
        assert len(problems) == 1 and expect.problem in problems[0], problems
        assert problems[0].startswith("interchange 0000001")
    else:
        assert problems == []
    if expect.category is None:
        assert tickets == []
        return
    ticket = tickets[0]
    assert ticket["category"] == expect.category
    first = ticket["codes"][0]  # type: ignore[index]
    assert (first["system"], first["code"]) == expect.first_code
    assert first["description"], "every fixture code resolves in the code tables"
    assert ticket["priority"] == expect.priority
    assert len(ticket["children"]) == expect.children  # type: ignore[arg-type]
    body = json.dumps(tickets)
    assert find_canaries(body) == []
    assert ticket["evidence"] or expect.first_code == ("X12-835", "unbalanced")
    # stable across re-reads: same ids and fingerprints
    _, again, _ = _tickets(path, tmp_path)
    assert [t["id"] for t in again] == [t["id"] for t in tickets]
    assert [t["fingerprint"] for t in again] == [t["fingerprint"] for t in tickets]


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str, tmp_path: Path) -> None:
    assert_golden(name, CASES[name], tmp_path)


def test_every_fixture_has_a_case() -> None:
    assert sorted(path.name for path in FIXTURES.iterdir()) == sorted(CASES)


def test_batch_rejection_fingerprint_matches_single(tmp_path: Path) -> None:
    _, single, _ = _tickets(FIXTURES / "277ca-a7-562.277", tmp_path)
    _, batch, _ = _tickets(FIXTURES / "277ca-batch-a7-562.277", tmp_path)
    assert single[0]["fingerprint"] == batch[0]["fingerprint"]
    assert single[0]["id"] != batch[0]["id"]
