"""The shape of the code base: a small package root, documented subpackages, no import cycles,
dependencies declared exactly (every third-party import declared, every declared one imported)."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "srzoo"
PYPROJECT = PACKAGE.parent / "pyproject.toml"
# Import names of the declared distributions (where they differ).
IMPORT_NAMES = {"huggingface-hub": "huggingface_hub", "pillow": "PIL", "av": "av",
                "pytorch-optimizer": "pytorch_optimizer"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(path: Path, module: str, known: dict[str, Path]) -> tuple[set[str], set[str]]:
    """(srzoo modules, top-level third-party names) imported anywhere in the file, TYPE_CHECKING
    blocks excluded."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
               and "TYPE_CHECKING" in ast.unparse(block.test)
               for statement in block.body for node in ast.walk(statement)}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    internal, external = set(), set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([base] if base else [])])
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for name in names:
            if name.split(".")[0] == "srzoo":
                if name in known and name != module:
                    internal.add(name)
            else:
                external.add(name.split(".")[0])
    return internal, external


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {module: _imports(path, module, known)[0] for module, path in known.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_a_small_package_root_and_documented_subpackages() -> None:
    root_modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root_modules) <= 6, root_modules
    for init in PACKAGE.rglob("__init__.py"):
        assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), f"{init} has no docstring"


def test_no_symlinks_in_the_package() -> None:
    assert [p for p in PACKAGE.rglob("*") if p.is_symlink()] == []


def _declared(names: list[str]) -> set[str]:
    plain = {name.split(";")[0].split("[")[0] for name in names}
    return {IMPORT_NAMES.get(name.split(">")[0].split("=")[0].split("<")[0].strip().lower(),
                             name.split(">")[0].split("=")[0].split("<")[0].strip().replace("-", "_"))
            for name in plain}


def test_dependencies_are_declared_and_used() -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    required = _declared(project["dependencies"])
    optional = {name for extra in project["optional-dependencies"].values() for name in _declared(extra)}
    known = _modules()
    imported = set().union(*(_imports(path, module, known)[1] for module, path in known.items()))
    third_party = {name for name in imported if name not in sys.stdlib_module_names and name != "srzoo"}
    assert third_party - required - optional == set(), "imported but not declared"
    assert required - third_party == set(), "declared but never imported"


@pytest.mark.parametrize("subpackage", ["engine", "media", "evaluation", "models", "zoo", "train", "cli"])
def test_every_subpackage_is_a_regular_package(subpackage: str) -> None:
    assert (PACKAGE / subpackage / "__init__.py").is_file()


def test_the_executor_imports_no_network_and_family_facts_no_torch() -> None:
    graph = _graph()
    assert not any(target.startswith("srzoo.models") for target in graph["srzoo.engine.breadth_first"])
    for family in ("lkdn", "alkdn", "aidn", "ddistill"):
        path = PACKAGE / "models" / family / "__init__.py"
        assert "torch" not in _imports(path, f"srzoo.models.{family}", _modules())[1]
