"""What the repository promises about itself: short modules and functions, no import circle,
its own docs, one typed package, extras that agree."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
# repository folder -> installed package (vlagent.agent, ...), as the wheel maps them
INSTALLED = {folder: name for name, folder in CONFIG["tool"]["setuptools"]["package-dir"].items()}
PACKAGES = tuple(sorted(INSTALLED))


def _modules() -> dict[str, Path]:
    """Every module of the package under its installed name."""
    found = {}
    for folder, name in INSTALLED.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = [
                p for p in path.relative_to(ROOT / folder).with_suffix("").parts if p != "__init__"
            ]
            found[".".join([name, *parts])] = path
    return found


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for pkg in PACKAGES
        for p in (ROOT / pkg).rglob("*.py")
        if (n := len(p.read_text("utf-8").splitlines())) > 400
    }
    assert long == {}


def test_nothing_refers_to_design_notes_a_user_does_not_have() -> None:
    names = ["DESIGN" + ".md", "REFERENCE" + ".md", "LAB" + "-NOTES"]
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    found = []
    for name in tracked.stdout.splitlines():
        path = ROOT / name
        if path.suffix in (".png", ".jpg") or not path.is_file():
            continue
        text = path.read_text("utf-8", errors="replace")
        found += [f"{name}: {n}" for n in names if n in text]
    assert found == []
    assert "docs/architecture.md" in (ROOT / "README.md").read_text("utf-8")


@pytest.mark.slow
def test_the_wheel_is_typed(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            *"-m pip wheel --no-deps --no-build-isolation -q -w".split(),
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    wheel = next(tmp_path.glob("vlagent-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"vlagent/{pkg}/py.typed" for pkg in PACKAGES} <= names
    assert "vlagent/agent/trajectory/schema.json" in names
    assert "vlagent/agent/testing/chat_templates/qwen2.5-vl-7b-instruct.json" in names
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"vlagent"}
    packaged = {n.rsplit("/", 1)[0].replace("/", ".") for n in names if n.endswith("/__init__.py")}
    assert packaged == {m for m, p in _modules().items() if p.name == "__init__.py"}


def test_no_function_is_over_60_lines() -> None:
    long = []
    for module, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1 if node.end_lineno else 0
                if lines > 60:
                    long.append(f"{module}.{node.name}: {lines} lines")
    assert long == []


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of ours that ``module`` imports anywhere (in functions and TYPE_CHECKING blocks
    too: a circle that only a lazy import breaks is still a circle in the design)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(name if name in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in modules and name != module}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return groups


def test_no_import_circle() -> None:
    modules = _modules()
    graph = {module: _imports(module, path, modules) for module, path in modules.items()}
    assert _circles(graph) == []
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_layers_import_only_downwards() -> None:
    """tools imports nothing of ours; prompts and environments only tools; agent anything."""
    allowed = {
        "vlagent.tools": {"vlagent.tools"},
        "vlagent.prompts": {"vlagent.prompts", "vlagent.tools"},
        "vlagent.environments": {"vlagent.environments", "vlagent.tools"},
    }
    modules = _modules()
    wrong = []
    for module, path in modules.items():
        layer = ".".join(module.split(".")[:2])
        for imported in _imports(module, path, modules):
            if layer in allowed and ".".join(imported.split(".")[:2]) not in allowed[layer]:
                wrong.append(f"{module} imports {imported}")
    assert wrong == []


def _requirements() -> list[tuple[str, str, str]]:
    """(where, package name, specifier) of every requirement: core and each extra."""
    rows = []
    project = CONFIG["project"]
    for where, requirements in [
        ("core", project["dependencies"]),
        *project["optional-dependencies"].items(),
    ]:
        for requirement in requirements:
            match = re.match(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)", requirement)
            assert match, requirement
            rows.append((where, match.group(1).lower().replace("_", "-"), match.group(3).strip()))
    return rows


def test_extras_never_ask_for_one_package_in_two_ways() -> None:
    """Installing [sim] then [test] must not move mujoco: a package named in two places (core and
    the extras, vlagent itself aside) is asked for with the same specifier, or with none."""
    seen: dict[str, set[str]] = {}
    for _, name, specifier in _requirements():
        if name != "vlagent" and specifier:
            seen.setdefault(name, set()).add(specifier)
    assert {name: specs for name, specs in seen.items() if len(specs) > 1} == {}


def test_no_test_module_imports_a_fixture() -> None:
    """Fixtures shared across folders come from plugins (tests/conftest.py). A fixture imported
    into a module is a second definition: a session fixture then runs twice (two adb servers,
    the second overwriting the first one's environment for the rest of the session)."""
    import importlib

    imported = []
    for path in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests"):
                module = importlib.import_module(node.module or "")
                for alias in node.names:
                    value = getattr(module, alias.name, None)
                    if hasattr(value, "_fixture_function") or hasattr(
                        value, "_pytestfixturefunction"
                    ):
                        imported.append(f"{path.relative_to(ROOT)}: {alias.name}")
    assert imported == []
