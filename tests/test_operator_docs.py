"""The operator documentation (docs/operations/*.md) names only things that exist: every
``rcmgw ...`` command resolves to a real subcommand path (whose ``--help`` exits 0) and its ``--options``
exist, every ``RCMGW_*`` setting is in the generated docs/configuration.md, and every
``GET|POST /path`` is a route of the app."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
import typer
from fastapi.routing import iter_route_contexts
from testkit import REPO
from typer.testing import CliRunner

from gateway.app import create_app
from gateway.cli import app as cli_app
from gateway.settings import Settings

OPS = REPO / "docs" / "operations"
DOCS = sorted(OPS.glob("*.md"))
CONFIG_DOC = (REPO / "docs" / "configuration.md").read_text("utf-8")
COMMAND = re.compile(r"(?:^|[\s`(])(?:\.venv/bin/)?rcmgw((?:[ \t]+[^\s`|)]+)+)")
SETTING = re.compile(r"\bRCMGW_[A-Z0-9_]*[A-Z0-9]\b")
ROUTE = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) (/[^\s`|),]*)")
WORD = re.compile(r"^[a-z][a-z0-9-]*$")


def _lines() -> list[tuple[Path, int, str]]:
    return [(doc, n, line) for doc in DOCS for n, line in enumerate(doc.read_text("utf-8").splitlines(), 1)]


def commands() -> list[tuple[str, list[str]]]:
    """Every ``rcmgw`` invocation in the docs: (where, tokens after ``rcmgw``)."""
    found = []
    for doc, n, line in _lines():
        for match in COMMAND.finditer(line):
            found.append((f"{doc.name}:{n}", match.group(1).split()))
    return found


def resolve(root: click.Command, tokens: list[str]) -> tuple[list[str], click.Command]:
    """The subcommand path named by ``tokens`` (raises AssertionError for an unknown one) and its
    command; words after a leaf command are its arguments."""
    path: list[str] = []
    command = root
    for token in tokens:
        group: dict[str, click.Command] | None = getattr(command, "commands", None)
        if group is None or not WORD.match(token):
            break
        sub = group.get(token)
        assert sub is not None, f"rcmgw {' '.join([*path, token])}: no such command"
        path.append(token)
        command = sub
    return path, command


def options_of(command: click.Command) -> set[str]:
    return {"--help", *(opt for param in command.params for opt in (*param.opts, *param.secondary_opts))}


def test_the_operations_docs_exist_and_are_linked_from_the_readme() -> None:
    names = {doc.name for doc in DOCS}
    expected = {"install-upgrade.md", "multi-node.md", "tls.md", "keys.md", "runbook.md", "security-model.md"}
    assert expected <= names
    readme = (REPO / "README.md").read_text("utf-8")
    assert all(f"docs/operations/{name}" in readme for name in expected)


def test_every_command_named_exists_with_its_options() -> None:
    root = typer.main.get_command(cli_app)
    found = commands()
    assert len(found) >= 20  # the extractor sees the docs' commands
    paths: set[tuple[str, ...]] = set()
    problems: list[str] = []
    for where, tokens in found:
        try:
            path, command = resolve(root, tokens)
        except AssertionError as error:
            problems.append(f"{where}: {error}")
            continue
        paths.add(tuple(path))
        unknown = [
            t.split("=")[0]
            for t in tokens
            if t.startswith("--") and t.split("=")[0] not in options_of(command)
        ]
        if unknown:
            problems.append(f"{where}: rcmgw {' '.join(path)} has no option {unknown}")
    assert problems == []
    runner = CliRunner()
    for path in sorted(paths):
        result = runner.invoke(cli_app, [*path, "--help"])
        assert result.exit_code == 0, f"rcmgw {' '.join(path)} --help: {result.output}"


def test_the_resolver_refuses_an_unknown_subcommand_and_option() -> None:
    root = typer.main.get_command(cli_app)
    with pytest.raises(AssertionError, match="spool vanish"):
        resolve(root, ["spool", "vanish", "--all"])
    path, command = resolve(root, ["spool", "replay", "ENTRY_ID"])
    assert path == ["spool", "replay"] and "--all-dead" in options_of(command)
    assert "--everything" not in options_of(command)


def test_every_setting_named_is_in_the_configuration_reference() -> None:
    named = {(f"{doc.name}:{n}", m.group(0)) for doc, n, line in _lines() for m in SETTING.finditer(line)}
    assert len(named) >= 20
    missing = sorted((where, name) for where, name in named if not re.search(rf"\b{name}\b", CONFIG_DOC))
    assert missing == []


def test_every_route_named_exists(settings: Settings) -> None:
    app = create_app(settings)
    routes = {
        (method, str(context.path))
        for context in iter_route_contexts(app.routes)
        for method in (getattr(context, "methods", None) or ())
    }
    named = {
        (f"{doc.name}:{n}", m.group(1), m.group(2)) for doc, n, line in _lines() for m in ROUTE.finditer(line)
    }
    assert len(named) >= 10
    missing = sorted(item for item in named if (item[1], item[2]) not in routes)
    assert missing == []
