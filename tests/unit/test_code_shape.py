"""The code's shape: functions on one screen, described outputs, documented builders.

These are the house rules a reviewer would otherwise check by eye; ruff's C90 and PLR0915 cover
complexity and statement counts, this covers what ruff cannot see.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import payment_platform
from tests.conftest import ENVIRONMENTS

ROOT = Path(__file__).resolve().parents[2]
# The infrastructure packages: no function longer than this many lines (one screen and a bit).
SHAPED_PACKAGES = ("payment_platform", "config", "offline", "guardrails", "conventions", "account")
MAX_FUNCTION_LINES = 80
# Issue numbers belong in commit messages and the tracker, not in the code that outlives them.
ISSUE_REFERENCE = re.compile(r"\(issues? \d+|\bissue #?\d+\b", re.IGNORECASE)


def _python_files(*roots: str) -> list[Path]:
    return sorted(p for root in roots for p in (ROOT / root).rglob("*.py"))


def _builder_modules() -> list[str]:
    return sorted(
        m.name
        for m in pkgutil.walk_packages(payment_platform.__path__, "payment_platform.")
        if hasattr(importlib.import_module(m.name), "build")
    )


def test_no_function_longer_than_a_screen() -> None:
    too_long = []
    for path in _python_files(*SHAPED_PACKAGES) + _python_files("resource_graph"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    too_long.append(f"{where} {node.name} ({length} lines)")
    assert too_long == [], f"functions over {MAX_FUNCTION_LINES} lines: {too_long}"


def test_every_builder_is_found() -> None:
    # The checks below iterate builder modules: make sure discovery sees all of them.
    names = {name.rsplit(".", 1)[-1] for name in _builder_modules()}
    assert {"network", "compute", "observability", "database", "edge"} <= names


@pytest.mark.parametrize("module_name", _builder_modules())
def test_builder_outputs_describe_every_field(module_name: str) -> None:
    module = importlib.import_module(module_name)
    outputs: list[type] = [
        obj
        for name, obj in vars(module).items()
        if name.endswith("Outputs")
        and isinstance(obj, type)
        and dataclasses.is_dataclass(obj)
        and obj.__module__ == module_name
    ]
    assert outputs, f"{module_name} defines no Outputs dataclass"
    for cls in outputs:
        assert vars(cls)["__dataclass_params__"].frozen, f"{cls.__name__} must be frozen"
        doc = cls.__doc__ or ""
        attributes = doc.partition("Attributes:")[2]
        described = set(re.findall(r"^\s{4,}(\w+): \S", attributes, re.MULTILINE))
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in described]
        assert missing == [], f"{cls.__name__}: no one-line description for {missing}"


@pytest.mark.parametrize("module_name", _builder_modules())
def test_builder_public_functions_have_docstrings(module_name: str) -> None:
    module = importlib.import_module(module_name)
    undocumented = [
        name
        for name, obj in vars(module).items()
        if callable(obj)
        and not name.startswith("_")
        and getattr(obj, "__module__", None) == module_name
        and not isinstance(obj, type)
        and not (obj.__doc__ or "").strip()
    ]
    assert undocumented == [], f"{module_name}: public functions without docstring"


def test_no_issue_numbers_in_code_or_docs() -> None:
    files = _python_files(*SHAPED_PACKAGES, "resource_graph", "policy", "app", "scripts", "tests")
    files += [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md", ROOT / "__main__.py"]
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if ISSUE_REFERENCE.search(line)
    ]
    assert found == []


@pytest.mark.parametrize("module_name", _builder_modules())
def test_builder_opens_and_finishes_its_component_scope(module_name: str) -> None:
    # One component per concern, every Outputs field registered on it (component.py).
    source = inspect.getsource(importlib.import_module(module_name).build)
    assert "component_scope(" in source and "scope.finish(" in source
    assert "ComponentResource(" not in source and "register_outputs(" not in source


# Names that select an environment; code that compares them branches on a name, not on data.
SELECTION_ATTRIBUTES = {"env", "suffix", "environment", "environment_suffix"}
# Modules where environments must differ in data only: the program, its builders, the profile's
# rules and the guardrails.
DATA_ONLY = ("payment_platform", "guardrails")
DATA_ONLY_FILES = ("__main__.py", "config/profile.py")


def _selects_environment(node: ast.expr) -> bool:
    """`profile.env`, `graph.suffix`, `p.deployment.environment`, ... (not `path.suffix`)."""
    if not isinstance(node, ast.Attribute) or node.attr not in SELECTION_ATTRIBUTES:
        return False
    base = ast.unparse(node.value)
    return any(word in base for word in ("profile", "graph", "deployment", "self"))


def _branches_on_names(path: Path) -> list[str]:
    found = []
    envs = set(ENVIRONMENTS)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_selects_environment(o) for o in operands):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Constant) and node.value in envs:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: names {node.value!r}")
    return found


def test_no_code_branches_on_an_environment_name_or_suffix() -> None:
    files = _python_files(*DATA_ONLY) + [ROOT / name for name in DATA_ONLY_FILES]
    found = [line for path in files for line in _branches_on_names(path)]
    assert found == [], "environments must differ in data only (add a profile key instead)"
