"""`make bench` end to end on tiny sizes: bench/run_all.py runs every bench script as a subprocess,
parses their BENCH-RESULT lines and writes the generated block at the top of a copy of
docs/PERFORMANCE.md, keeping the hand-written sections."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from testkit import REPO

RUN_ALL = REPO / "bench" / "run_all.py"


def load_run_all() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_all", RUN_ALL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_all"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_quick_run_writes_every_target_into_a_copy_of_the_report(tmp_path: Path) -> None:
    doc = tmp_path / "PERFORMANCE.md"
    original = (REPO / "docs" / "PERFORMANCE.md").read_text()
    doc.write_text(original)
    done = subprocess.run(
        [sys.executable, str(RUN_ALL), "--quick", "--doc", str(doc)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = doc.read_text()
    assert text.count("\n<!-- bench:begin -->\n") == 1 and text.count("\n<!-- bench:end -->\n") == 1
    assert text.index("<!-- bench:begin -->") < text.index("## ")  # the block comes first
    block = text[text.index("<!-- bench:begin -->") : text.index("<!-- bench:end -->")]
    hand_written = original.split("\n<!-- bench:end -->\n")[-1]
    assert hand_written.split("\n", 1)[1].strip() in text  # every hand-written section kept
    for needle in (
        "group commit vs single-row commit",
        "redaction recall, free text",
        "rules only, 200-rule set",
        "835 end to end vs pyx12",
        "MLLP sustained",
        "p99 ACK latency",
        "drain to a loopback webhook",
        "835 streaming read",
        "HL7 v2 batch",
        "SQLite spool depth",
        "load average",
        "CPUs (",
        "Python 3.",
    ):
        assert needle in block, needle
    assert "| failed" not in block and "no BENCH-RESULT" not in block and "timed out" not in block


def test_the_block_is_replaced_not_repeated(tmp_path: Path) -> None:
    run_all = load_run_all()
    doc = tmp_path / "PERFORMANCE.md"
    doc.write_text("# Performance\n\n## Hand-written\n\nmentions `<!-- bench:end -->` in text\n")
    for body in ("first", "second"):
        run_all.write_block(doc, f"{run_all.BEGIN}\n{body}\n{run_all.END}")
    text = doc.read_text()
    assert text.count(run_all.BEGIN) == 1 and "second" in text and "first" not in text
    assert text.startswith("# Performance\n\n<!-- bench:begin -->")
    assert text.endswith("## Hand-written\n\nmentions `<!-- bench:end -->` in text\n")


def test_a_missing_script_is_listed_not_fatal(tmp_path: Path) -> None:
    run_all = load_run_all()
    outcome = run_all.run_step(run_all.Step("ghost", "no_such_bench.py", [], []), True, 1.0)
    assert outcome.status == "missing"
    rows = run_all.target_rows([outcome])
    assert any("ghost" in row and "not measured" in row for row in rows)
