"""``rcmgw fhir keys``: rotate, list, retire, jwks through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app


def test_rotation_through_the_cli(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RCMGW_HOME", str(home))
    runner = CliRunner()
    before = runner.invoke(app, ["fhir", "keys", "list"])
    assert before.exit_code == 0
    old = next(line.split("\t")[0] for line in before.stdout.splitlines() if "\tRS384\tactive" in line)
    rotated = runner.invoke(app, ["fhir", "keys", "rotate", "--alg", "RS384"])
    new = rotated.stdout.strip()
    assert rotated.exit_code == 0 and new != old
    assert runner.invoke(app, ["fhir", "keys", "retire", new]).exit_code == 65  # active: refused
    published = {
        key["kid"] for key in json.loads(runner.invoke(app, ["fhir", "keys", "jwks"]).stdout)["keys"]
    }
    assert {old, new} <= published
    assert runner.invoke(app, ["fhir", "keys", "retire", old]).exit_code == 0
    published = {
        key["kid"] for key in json.loads(runner.invoke(app, ["fhir", "keys", "jwks"]).stdout)["keys"]
    }
    assert old not in published and new in published
