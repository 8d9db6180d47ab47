"""atheris harness for the `fhir` fuzz target (`fuzzkit.run_fhir`); run by `make fuzz` through
tests/fuzz/run_fuzz.py, or by hand: `.venv/bin/python tests/fuzz/harness_fhir.py CORPUS_DIR
-max_total_time=60 -timeout=10` (docs/fuzzing.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import atheris  # type: ignore[import-untyped]

TESTS = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(TESTS.parent), str(TESTS)]  # the packages (before tests/adapters), fuzzkit

with atheris.instrument_imports(include=["adapters", "redaction"]):
    import fuzzkit

if __name__ == "__main__":
    fuzzkit.atheris_main("fhir")
