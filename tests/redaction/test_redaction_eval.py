"""The labelled evaluation set at reduced size (every second text): the recall and precision floors.

The full set and the Presidio comparison run in ``bench/redaction_eval.py``.
"""

from __future__ import annotations

from testkit import REPO

from redaction import Redactor, default_detector_registry
from redaction.evaluation import LabelledText, load_labelled, score
from redaction.structure import quiet_regions, structural_marks
from redaction.testing import deterministic_pseudonymizer

EVAL_SET = REPO / "fixtures" / "redaction" / "eval.jsonl"


def _spans(redactor: Redactor, row: LabelledText) -> list[tuple[int, int, str]]:
    fmt = row.format
    marks = structural_marks(row.text, fmt)  # type: ignore[arg-type]
    _, findings = redactor.redact_marked(row.text, marks, quiet=quiet_regions(row.text, fmt))  # type: ignore[arg-type]
    return [(f.start, f.end, f.kind.value) for f in findings]


def test_the_labelled_set_is_large_and_varied() -> None:
    rows = load_labelled(EVAL_SET)
    assert len(rows) >= 300
    assert {row.format for row in rows} == {"text", "x12", "hl7", "fhir"}
    kinds = {kind for row in rows for _, _, kind, _ in row.spans}
    assert len(kinds) >= 18


def test_recall_and_precision_floors_on_a_reduced_run() -> None:
    rows = load_labelled(EVAL_SET)[::2]
    redactor = Redactor(deterministic_pseudonymizer("eval"), default_detector_registry())
    result = score(rows, lambda row: _spans(redactor, row))
    assert result.recall("@free") >= 0.99
    assert result.recall("@structural") == 1.0
    assert result.precision() >= 0.95
