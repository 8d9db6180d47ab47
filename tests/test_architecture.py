"""The import rules of DESIGN.md, checked by walking every module's imports."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("gateway", "adapters", "normalizers", "redaction", "fallback")
# package -> the modules of ours it may import (a prefix match on the dotted name).
ALLOWED: dict[str, tuple[str, ...]] = {
    "redaction": ("redaction",),
    "adapters": ("adapters",),
    "normalizers": ("normalizers", "adapters", "redaction"),
    "fallback": ("fallback", "normalizers.sealed"),
    "gateway": PACKAGES,
}


def _modules(package: str, root: Path = REPO) -> Iterator[Path]:
    yield from sorted((root / package).rglob("*.py"))


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def _is_ours(module: str) -> bool:
    return module.split(".", maxsplit=1)[0] in PACKAGES


def _allowed(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def import_violations(root: Path = REPO) -> list[str]:
    """Every import of one of our packages that the table does not allow."""
    problems = []
    for package in PACKAGES:
        for path in _modules(package, root):
            for line, module in _imports(path):
                if _is_ours(module) and not _allowed(module, ALLOWED[package]):
                    problems.append(f"{path.relative_to(root)}:{line} imports {module}")
    return problems


def test_packages_import_only_what_design_allows() -> None:
    assert import_violations() == []


def test_nothing_imports_gateway() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{line}"
        for package in PACKAGES
        if package != "gateway"
        for path in _modules(package)
        for line, module in _imports(path)
        if module.split(".")[0] == "gateway"
    ]
    assert offenders == []


def test_relative_imports_are_not_used() -> None:
    offenders = []
    for package in PACKAGES:
        for path in _modules(package):
            tree = ast.parse(path.read_text("utf-8"))
            offenders += [
                f"{path.relative_to(REPO)}:{node.lineno}"
                for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.level > 0
            ]
    assert offenders == [], "relative imports would hide package boundaries from this test"


def test_the_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "redaction" / "leak.py").write_text("from adapters.base import SourceRecord\n")
    (tmp_path / "fallback" / "bad.py").write_text(
        "import normalizers.payload\nfrom normalizers.sealed import X\n"
    )
    assert sorted(import_violations(tmp_path)) == [
        "fallback/bad.py:1 imports normalizers.payload",
        "redaction/leak.py:1 imports adapters.base",
    ]


def test_only_sealing_holds_the_seal_capability() -> None:
    holders = sorted(
        str(path.relative_to(REPO))
        for package in PACKAGES
        for path in _modules(package)
        if "_SEAL_CAPABILITY" in path.read_text("utf-8")
    )
    assert holders == ["normalizers/sealed.py", "normalizers/sealing.py"]


def test_no_grab_bag_modules() -> None:
    names = {path.name for package in PACKAGES for path in _modules(package)}
    assert not names & {"utils.py", "helpers.py", "misc.py", "common.py"}
