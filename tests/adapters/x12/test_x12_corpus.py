"""Every X12 file of the shared corpus yields records, or is rejected with an error that names the
interchange, the segment number and the reason; never a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from testkit import CORPUS

from adapters.x12.context import X12Problem
from adapters.x12.errors import X12Rejected
from adapters.x12.reader import read_x12

FILES = sorted(CORPUS.glob("x12-*/*"))
PROBLEM = re.compile(r"^interchange [^,]+, segment \d+: \S.+")
pytestmark = pytest.mark.corpus


def _files() -> list[Path]:
    return FILES


@pytest.mark.skipif(not FILES, reason="corpus not present")
@pytest.mark.parametrize("path", _files(), ids=lambda path: path.name)
def test_corpus_file_yields_records_or_a_specific_rejection(path: Path) -> None:
    records, problems = [], []
    try:
        with path.open("rb") as handle:
            for item in read_x12(handle, chunk_size=211):
                (problems if isinstance(item, X12Problem) else records).append(item)
    except X12Rejected as error:
        problems.append(X12Problem(error.interchange, error.segment, error.reason))
    assert records or problems
    for problem in problems:
        assert PROBLEM.match(str(problem)), str(problem)


def test_corpus_present() -> None:
    import os

    if not FILES and os.environ.get("CI") == "true":
        pytest.fail("the corpus is missing under CI")
    if not FILES:
        pytest.skip("corpus not present")
    assert len(FILES) == 79


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("x12-other/staedi__ts214_ellipses_segterm.edi", "\u2026"),
        ("x12-other/oopfactory__270_5010_Example1_IG_0x1D.txt", "\x1d"),
        ("x12-ta1/oopfactory__TechnicalAcknowledgment_SampleFromJeffN825.txt", "\n"),
        ("x12-other/imsweb__x12_valid_different_separators.txt", "_"),
        ("x12-835/tigershark__835-example.txt", "~"),
    ],
)
def test_corpus_terminators(name: str, expected: str) -> None:
    from adapters.x12.tokenizer import X12Tokenizer

    path = CORPUS / name
    if not path.exists():
        pytest.skip("corpus not present")
    with path.open("rb") as handle:
        tokenizer = X12Tokenizer(handle)
        tags = [elements[0] for _, elements in tokenizer]
    assert tokenizer.delimiters is not None
    assert tokenizer.delimiters.segment.encode("latin-1").decode("utf-8") == expected
    assert tags[-1] == "IEA" and all(tag.isalnum() for tag in tags)


def test_corpus_known_outcomes() -> None:
    if not FILES:
        pytest.skip("corpus not present")

    def kinds(name: str) -> list[str]:
        with (CORPUS / name).open("rb") as handle:
            return [getattr(item, "record_type", "problem") for item in read_x12(handle)]

    assert kinds("x12-277/imsweb__x12_277CA_rejected.txt") == ["x12-277ca-rejection"]
    assert kinds("x12-ta1/oopfactory__TechnicalAcknowledgment_SampleFromJeffN825.txt") == [
        "x12-ta1-rejection"
    ]
    assert kinds("x12-999/imsweb__x12_999_accepted_ta1.txt") == ["x12-ta1-accepted", "x12-999-rejection"]
    # a denied claim: line 1's CO-16 is the claim's reason (folded into it); lines 2 and 3, both
    # OA-A7 on T1005, are one line record
    assert kinds("x12-835/pyx12__835_mult_loops.txt") == ["x12-835-claim", "x12-835-line"]
    assert "problem" in kinds("x12-277/oopfactory__277_5010_FromBogeyone.txt")
