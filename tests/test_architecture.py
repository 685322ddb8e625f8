"""The layout's rules that import-linter does not check (docs/architecture.md): no private name of one module
used by another, modules of a readable size, every sub-package's public names listed in ``__all__``."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("provenance", "rightsdb", "api")
#: "No module over ~500 lines except generated migrations" (the layout issue).
MAX_LINES = 540


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if "migrations" not in p.parts)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_private_name_is_used_across_modules() -> None:
    """``from x import _name`` and ``module._name`` of another project module are refused: a name another module
    needs is public in its own."""
    found: list[str] = []
    for path in _modules():
        module = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported_modules: dict[str, str] = {}  # local name -> project module
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = _resolve(module, path.name == "__init__.py", node)
                if source.split(".")[0] not in PACKAGES or source == module:
                    continue
                for alias in node.names:
                    if _private(alias.name):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: from {source} import {alias.name}")
                    elif importlib.util.find_spec(f"{source}.{alias.name}") if _is_package(source) else False:
                        imported_modules[alias.asname or alias.name] = f"{source}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in PACKAGES and alias.asname:
                        imported_modules[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in imported_modules
                and _private(node.attr)
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {imported_modules[node.value.id]}.{node.attr}")
    assert not found, "private names used across modules:\n" + "\n".join(found)


def _is_package(module: str) -> bool:
    spec = importlib.util.find_spec(module)
    return spec is not None and spec.submodule_search_locations is not None


def test_modules_stay_readable() -> None:
    long = [
        f"{p.relative_to(ROOT)}: {n} lines"
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    ]
    assert not long, f"modules over {MAX_LINES} lines:\n" + "\n".join(long)


SUBPACKAGES = sorted(_module_name(p) for p in _modules() if p.name == "__init__.py")


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_every_package_lists_its_public_names(name: str) -> None:
    package = importlib.import_module(name)
    public = getattr(package, "__all__", None)
    assert public is not None, f"{name}/__init__.py has no __all__"
    missing = [n for n in public if not hasattr(package, n)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"
    assert len(set(public)) == len(public)


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """The private-name rule sees both forms it forbids (so a green run means something)."""
    assert _private("_x") and not _private("__all__") and not _private("x")
    tree = ast.parse("from provenance.engine.match import _windows\n")
    node = tree.body[0]
    assert isinstance(node, ast.ImportFrom)
    assert _resolve("provenance.audit.scan", False, node) == "provenance.engine.match"
    rel = ast.parse("from ..engine import x\n").body[0]
    assert isinstance(rel, ast.ImportFrom)
    assert _resolve("provenance.audit.scan", False, rel) == "provenance.engine"
    assert _resolve("provenance.audit", True, rel) == "provenance.engine"
