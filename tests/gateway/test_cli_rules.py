"""``rcmgw check-config`` names the file and line of a bad rule; ``rcmgw rules explain`` shows the
rules that matched, why, and the final routing, without PHI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from testkit import REPO, find_canaries

RCMGW = Path(sys.executable).parent / "rcmgw"


def rcmgw(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RCMGW_")}
    environ.update({"RCMGW_HOME": str(home), **env})
    return subprocess.run(
        [str(RCMGW), *args], capture_output=True, env=environ, cwd=REPO, check=False, timeout=60
    )


def test_check_config_reports_file_and_line_of_a_bad_rule(home: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "groups:\n  - rules:\n      - id: ok\n        then: {tags: [a]}\n"
        "      - id: bad\n        then: {priority: urgent}\n"
    )
    result = rcmgw(home, "check-config", RCMGW_RULES__PATH=str(rules))
    assert result.returncode == 65
    assert result.stderr.decode().startswith(f"rcmgw: error: rules: {rules}:6: rule 'bad': priority must be")
    assert rcmgw(home, "check-config", "--json").returncode == 0


def test_rules_explain_prints_matched_rules_and_routing(home: Path) -> None:
    canary = REPO / "fixtures" / "events" / "denial-co97.json"
    result = rcmgw(
        home, "rules", "explain", str(canary), str(REPO / "fixtures" / "events" / "high-exposure-co50.json")
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [line["routing"]["queue"] for line in lines] == ["denials", "denials"]
    rules = [item["rule"] for item in lines[1]["matched"]]
    assert rules[:1] == ["category.by-code-system.denial"] and "escalation.exposure" in rules
    assert lines[1]["routing"]["priority"] == "high" and lines[1]["routing"]["tier"] == 2
    assert find_canaries(result.stdout + result.stderr) == []
    assert b"CLM-77120" not in result.stdout
