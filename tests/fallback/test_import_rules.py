"""`fallback/` imports nothing of ours except `normalizers.sealed` (DESIGN.md, "who may import whom")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "fallback"
OURS = {"gateway", "adapters", "normalizers", "redaction", "fallback"}
ALLOWED = {"normalizers.sealed"}


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            base = node.module or ""
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names if base in OURS}
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_fallback_imports_only_the_sealed_ticket(path):
    forbidden = sorted(
        name
        for name in imported_modules(path)
        if name.split(".")[0] in OURS - {"fallback"} and name not in ALLOWED
    )
    assert forbidden == []
