"""``rcmgw redact``: stdin in, redacted text or JSON findings (offsets into the input) out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RCMGW = str(Path(sys.executable).with_name("rcmgw"))
NOTE = "Pt JOHN SMITH (DOB 01/05/1980) called from (617) 555-0143 about claim 12345678; paid 310.00, CO-97."


def _run(home: Path, *args: str, stdin: str) -> subprocess.CompletedProcess[bytes]:
    env = {"RCMGW_HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return subprocess.run(
        [RCMGW, "redact", *args], input=stdin.encode(), capture_output=True, env=env, timeout=60, check=False
    )


def test_json_findings_point_into_the_input(home: Path) -> None:
    result = _run(home, "--json", stdin=NOTE)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    found = {(NOTE[f["start"] : f["end"]], f["kind"]) for f in answer["findings"]}
    assert found == {
        ("JOHN SMITH", "NAME"),
        ("01/05/1980", "DATE"),
        ("(617) 555-0143", "PHONE"),
        ("12345678", "CLAIM"),
    }
    rebuilt, cursor = "", 0
    for finding in answer["findings"]:
        assert set(finding) == {"start", "end", "kind", "token"}
        rebuilt += NOTE[cursor : finding["start"]] + finding["token"]
        cursor = finding["end"]
    assert rebuilt + NOTE[cursor:] == answer["text"]
    assert "310.00" in answer["text"] and "CO-97" in answer["text"]


def test_plain_output_is_the_redacted_text_only(home: Path) -> None:
    result = _run(home, stdin=NOTE)
    assert result.returncode == 0
    assert result.stdout.decode().startswith("Pt [NAME:")
    assert "SMITH" not in result.stdout.decode()


@pytest.mark.parametrize(
    ("fmt", "text", "clear", "kept"),
    [
        (
            "x12",
            "NM1*QC*1*DOE*JANE****MI*W99887766~NM1*PR*2*ACME PLAN*****PI*87726~",
            ["DOE", "W99887766"],
            ["87726"],
        ),
        (
            "hl7",
            "MSH|^~\\&|A|B|C|D|20240105||ADT^A08|1|P|2.5\rPID|1||E1234567^^^H^MR||ROE^RICHARD",
            ["ROE", "E1234567"],
            ["20240105"],
        ),
        (
            "fhir",
            '{"resourceType":"Patient","name":[{"family":"Roe","given":["Rikard"]}]}',
            ["Roe", "Rikard"],
            ["Patient"],
        ),
    ],
)
def test_formats_mark_structural_fields(
    home: Path, fmt: str, text: str, clear: list[str], kept: list[str]
) -> None:
    result = _run(home, "--format", fmt, "--json", stdin=text)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert not [value for value in clear if value in answer["text"]]
    assert all(value in answer["text"] for value in kept)
    assert any(text[f["start"] : f["end"]] == clear[0] for f in answer["findings"])


def test_an_unknown_format_is_a_usage_error(home: Path) -> None:
    result = _run(home, "--format", "pdf", stdin="x")
    assert result.returncode == 2
