"""The typed package: ``_native.pyi`` (and ``_native/testing.pyi``) name
exactly what the native module exports, class by class, and the typed usage
file that ``make lint`` checks with mypy --strict also runs.

(``make lint`` runs ``mypy.stubtest`` too, which compares signatures; this
test keeps the name check in ``make test`` on every version, where the native
module is built for that version.)
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

import splice

PKG = Path(splice.__file__).resolve().parent
TESTS = Path(__file__).resolve().parent


def _stub_names(path: Path) -> tuple[set[str], dict[str, set[str]], list[str] | None]:
    """Top-level public names, each class's public members, and ``__all__``."""
    tree = ast.parse(path.read_text())
    top: set[str] = set()
    members: dict[str, set[str]] = {}
    all_: list[str] | None = None
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            top.add(node.name)
            members[node.name] = {
                n.name if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) else n.target.id  # type: ignore[union-attr]
                for n in node.body
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                or (isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name))
            }
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            top.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            top.add(node.target.id)
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name) and t.id == "__all__":
                    all_ = [ast.literal_eval(e) for e in node.value.elts]  # type: ignore[attr-defined]
                elif isinstance(t, ast.Name):
                    top.add(t.id)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("splice"):
            # only `import X as X` re-exports a name from a stub
            top.update(a.name for a in node.names if a.asname == a.name)
    return {n for n in top if not n.startswith("_")}, members, all_


def _public(mod: ModuleType) -> set[str]:
    return {n for n in dir(mod) if not n.startswith("_")}


@pytest.mark.parametrize(("module", "stub"), [
    ("splice._native", "_native.pyi"),
    ("splice._native.testing", "_native/testing.pyi"),
])
def test_stub_names_match_module(module: str, stub: str) -> None:
    mod = importlib.import_module(module)
    top, members, all_ = _stub_names(PKG / stub)
    assert top == _public(mod), f"{stub} vs {module}: only in stub {top - _public(mod)}, " \
                                f"only in module {_public(mod) - top}"
    assert all_ is not None and sorted(all_) == sorted(mod.__all__)
    for cls, names in members.items():
        real = {n for n in vars(getattr(mod, cls)) if not n.startswith("_")}  # its own, not inherited
        public = {n for n in names if not n.startswith("_")}
        assert public == real, f"{module}.{cls}: only in stub {public - real}, only in module {real - public}"


def test_package_is_typed() -> None:
    assert (PKG / "py.typed").is_file()


def test_typed_usage_runs() -> None:
    sys.path.insert(0, str(TESTS))
    try:
        import typed_usage
    finally:
        sys.path.remove(str(TESTS))
    typed_usage.main()
