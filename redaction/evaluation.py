"""Scoring a redaction engine against a labelled set (``fixtures/redaction/eval.jsonl``).

A labelled span counts as *caught* when the engine's replaced spans cover every one of its
characters (a half-redacted name still leaks). A replaced span counts as *correct* when it overlaps
some labelled span; one that overlaps none removed something a reader needed (a code, an amount).
Recall is reported per labelled kind and separately for structural spans (fields the format marks)
and free-text spans; precision per replaced kind and overall. Used by ``bench/redaction_eval.py`` and
by the reduced run in the test suite.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

Spans = Sequence[tuple[int, int, str]]


@dataclass(frozen=True, slots=True)
class LabelledText:
    """One text of the set and its identifier spans ``(start, end, kind, structural)``."""

    id: str
    format: str
    text: str
    spans: tuple[tuple[int, int, str, bool], ...]


def load_labelled(path: Path) -> list[LabelledText]:
    """The texts of a JSONL labelled set."""
    rows = []
    for line in path.read_text("utf-8").splitlines():
        if line.strip():
            data = json.loads(line)
            spans = tuple((s["start"], s["end"], s["kind"], bool(s["structural"])) for s in data["spans"])
            rows.append(LabelledText(data["id"], data["format"], data["text"], spans))
    return rows


@dataclass
class Score:
    """Counts behind recall and precision."""

    caught: Counter[str] = field(default_factory=Counter)
    labelled: Counter[str] = field(default_factory=Counter)
    correct: Counter[str] = field(default_factory=Counter)
    replaced: Counter[str] = field(default_factory=Counter)

    def recall(self, kind: str | None = None) -> float:
        """Caught / labelled, for one kind (or group key) or overall."""
        if kind is not None:
            return self.caught[kind] / self.labelled[kind] if self.labelled[kind] else 1.0
        total = sum(self.labelled[k] for k in self.labelled if not k.startswith("@"))
        return sum(self.caught[k] for k in self.caught if not k.startswith("@")) / total if total else 1.0

    def precision(self, kind: str | None = None) -> float:
        """Correct / replaced, for one replaced kind or overall."""
        if kind is not None:
            return self.correct[kind] / self.replaced[kind] if self.replaced[kind] else 1.0
        total = sum(self.replaced.values())
        return sum(self.correct.values()) / total if total else 1.0


def score(rows: Iterable[LabelledText], find: Callable[[LabelledText], Spans]) -> Score:
    """Score ``find`` (a text -> replaced spans ``(start, end, kind)``) on ``rows``."""
    result = Score()
    for row in rows:
        found = list(find(row))
        covered = bytearray(len(row.text))
        for start, end, _ in found:
            covered[start:end] = b"\x01" * (end - start)
        for start, end, kind, structural in row.spans:
            group = "@structural" if structural else "@free"
            hit = all(covered[start:end])
            for key in (kind, group):
                result.labelled[key] += 1
                result.caught[key] += int(hit)
        for start, end, kind in found:
            result.replaced[kind] += 1
            result.correct[kind] += int(any(s < end and start < e for s, e, _, _ in row.spans))
    return result
