"""`redaction/` imports nothing of rcm-gateway's other packages (DESIGN.md, "who may import whom")."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import redaction

PACKAGE = Path(redaction.__file__).parent
ALLOWED_THIRD_PARTY = {"cryptography"}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_redaction_imports_only_itself_the_stdlib_and_cryptography() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 5
    for module in modules:
        foreign = imported_roots(module) - sys.stdlib_module_names - ALLOWED_THIRD_PARTY - {"redaction"}
        assert not foreign, f"{module.relative_to(PACKAGE)} imports {sorted(foreign)}"
