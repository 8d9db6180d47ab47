"""The rcmgw command line, run as a real process: exit codes, one-line errors, JSON output."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from gatewayproc import RCMGW
from testkit import REPO, canary_event, find_canaries

from gateway.auth.tokens import TokenValidator
from gateway.keys import load_or_create_keys

FIXTURES = REPO / "fixtures" / "events"


def rcmgw(
    home: Path, *args: str, stdin: bytes | None = None, **env: str
) -> subprocess.CompletedProcess[bytes]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RCMGW_")}
    environ.update({"RCMGW_HOME": str(home), **env})
    return subprocess.run(
        [str(RCMGW), *args], capture_output=True, env=environ, cwd=REPO, input=stdin, check=False, timeout=60
    )


def test_dry_run_json_prints_one_sealed_ticket_per_line_and_spools_nothing(home: Path) -> None:
    result = rcmgw(
        home,
        "ingest",
        "--dry-run",
        "--json",
        str(FIXTURES / "denial-co97.json"),
        str(FIXTURES / "high-exposure-co50.json"),
    )
    assert result.returncode == 0, result.stderr
    tickets = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [t["codes"][0]["code"] for t in tickets] == ["97", "50"]
    assert tickets[1]["priority"] == "high" and tickets[1]["tier"] == 2
    assert "Jane" not in result.stdout.decode() and "E1234567" not in result.stdout.decode()
    assert not (home / "spool").exists()


def test_ingest_spools_good_files_and_exits_65_naming_the_bad_one(home: Path, tmp_path: Path) -> None:
    canary = tmp_path / "canary.json"
    canary.write_text(json.dumps(canary_event()))
    result = rcmgw(
        home,
        "ingest",
        "--json",
        str(canary),
        str(FIXTURES / "bad-unknown-field.json"),
        str(FIXTURES / "bad-malformed.json"),
        str(FIXTURES / "user-reported-no-phi.json"),
    )
    assert result.returncode == 65
    accepted = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [item["status"] for item in accepted] == ["accepted", "accepted"]
    errors = result.stderr.decode().splitlines()
    assert len(errors) == 2
    assert errors[0].startswith(f"rcmgw: error: {FIXTURES / 'bad-unknown-field.json'}: input.rejected")
    assert "patient_name: unknown field" in errors[0]
    assert "SHOULD NOT BE ECHOED" not in result.stderr.decode()
    assert "bad-malformed.json: input.rejected" in errors[1]
    assert find_canaries(result.stdout + result.stderr) == []
    again = rcmgw(home, "ingest", "--json", str(canary))
    assert json.loads(again.stdout)["status"] == "duplicate"


def test_ingest_missing_file_is_bad_input(home: Path) -> None:
    result = rcmgw(home, "ingest", "/nonexistent/event.json")
    assert result.returncode == 65
    assert result.stderr.decode().count("\n") == 1


def test_ingest_unwritable_spool_exits_69(home: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    result = rcmgw(
        home, "ingest", str(FIXTURES / "denial-co97.json"), RCMGW_SPOOL_PATH=str(blocker / "spool.db")
    )
    assert result.returncode == 69, result.stderr
    assert result.stderr.decode().startswith("rcmgw: error:")
    assert "Traceback" not in result.stderr.decode()


def test_token_mints_a_token_the_gateway_accepts(home: Path) -> None:
    result = rcmgw(
        home, "token", "--client", "billing-bot", "--scope", "events:write", "--scope", "tickets:read"
    )
    assert result.returncode == 0
    keys = load_or_create_keys(home / "keys")
    from gateway.auth.tokens import DevIssuer

    key_set = DevIssuer(keys.issuer_key, issuer="rcmgw-dev", audience="rcm-gateway").key_set
    principal = TokenValidator(key_set, issuer="rcmgw-dev", audience="rcm-gateway").validate(
        result.stdout.decode().strip()
    )
    assert principal.client_id == "billing-bot" and principal.scopes == {"events:write", "tickets:read"}


def test_token_with_unknown_scope_is_a_usage_error(home: Path) -> None:
    result = rcmgw(home, "token", "--client", "x", "--scope", "everything")
    assert result.returncode == 2


def test_check_config_reports_the_bad_setting(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text("http_port: 99999\n")
    result = rcmgw(home, "check-config", "--config", str(config))
    assert result.returncode == 65
    assert result.stderr.decode().strip() == (
        "rcmgw: error: configuration: http_port: Input should be less than or equal to 65535"
    )
    ok = rcmgw(home, "check-config", "--json", RCMGW_HTTP_PORT="9090")
    assert ok.returncode == 0 and json.loads(ok.stdout)["http_port"] == 9090


def test_postgresql_spool_without_a_dsn_is_a_configuration_error(home: Path) -> None:
    result = rcmgw(home, "check-config", RCMGW_SPOOL__BACKEND="postgresql")
    assert result.returncode == 65
    assert result.stderr.decode().strip() == (
        "rcmgw: error: configuration: spool: Value error, spool.backend is postgresql but spool.dsn"
        " (env:NAME or file:PATH) is unset"
    )


def test_environment_overrides_config_file(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text("http_port: 7000\nlog_level: DEBUG\n")
    result = rcmgw(home, "check-config", "--json", "--config", str(config), RCMGW_HTTP_PORT="7001")
    values = json.loads(result.stdout)
    assert (values["http_port"], values["log_level"]) == (7001, "DEBUG")


def test_missing_config_file_is_a_usage_error(home: Path) -> None:
    result = rcmgw(home, "check-config", "--config", "/nonexistent.yaml")
    assert result.returncode == 2


@pytest.mark.parametrize("example", sorted((REPO / "docs" / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_config_is_valid(home: Path, example: Path) -> None:
    assert rcmgw(home, "check-config", "--config", str(example)).returncode == 0


def test_configuration_reference_is_current() -> None:
    from gateway.config_docs import DOC_PATH, render_configuration_doc

    assert (REPO / DOC_PATH).read_text("utf-8") == render_configuration_doc(), (
        "run python -m gateway.config_docs"
    )
