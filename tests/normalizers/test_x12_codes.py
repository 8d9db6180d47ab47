"""Every code the corpus and the fixtures use resolves in the shipped X12 code tables."""

from __future__ import annotations

import pytest
from testkit import CORPUS, REPO

from adapters.x12.context import EVIDENCE, X12Problem
from adapters.x12.errors import X12Rejected
from adapters.x12.reader import read_x12
from gateway.keys import load_or_create_keys
from gateway.runtime import build_sealer
from normalizers.normalizer import Normalizer
from normalizers.x12_codes import TABLES, table

# Parser-robustness files whose "codes" are deliberately garbage or invalid on purpose.
GARBAGE = {
    "tigershark-perlX12__sample_835.txt",
    "staedi__invalid999.edi",
    "staedi__extraDelimiter997.edi",
    "staedi__invalid997_min.edi",
}


def test_tables_load() -> None:
    for name in TABLES:
        assert table(name), name
    assert table("carc")["97"]
    assert table("ta1-note")["006"]


@pytest.mark.corpus
def test_every_corpus_code_resolves(tmp_path) -> None:  # type: ignore[no-untyped-def]
    paths = sorted(CORPUS.glob("x12-*/*")) + sorted((REPO / "fixtures" / "x12").iterdir())
    if len(paths) < 20:
        pytest.skip("corpus not present")
    normalizer, sealer = Normalizer(), build_sealer(load_or_create_keys(tmp_path / "keys"))
    unresolved: set[str] = set()
    seen = 0
    for path in paths:
        if path.name in GARBAGE:
            continue
        try:
            with path.open("rb") as handle:
                items = list(read_x12(handle))
        except X12Rejected:
            continue
        for item in items:
            if isinstance(item, X12Problem) or item.facts.get(EVIDENCE):
                continue
            draft = normalizer.normalize(item)
            sealer.seal(draft)
            for code in draft.codes:
                seen += 1
                if code.system != "X12-835" and not code.description:
                    unresolved.add(f"{code.system}:{code.code} ({path.name})")
    assert seen > 100
    assert unresolved == set()
