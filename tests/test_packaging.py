"""vlagent as a dependency in someone else's project: one import name, and a pytest plugin that
stays out of the way of a test session that does not use it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def _our_folders() -> list[str]:
    """The repository folders the wheel maps under vlagent (agent, environments, prompts, tools):
    read from pyproject.toml, so a folder added there is covered here too."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    return sorted(config["tool"]["setuptools"]["package-dir"].values())


# The plugin and its own light modules (options, markers, the session's log): nothing else of the
# library, and none of the heavy packages, until a fixture asks for them.
PLUGIN_CHAIN = {
    "vlagent",
    "vlagent.agent",
    "vlagent.agent.uitest",
    "vlagent.agent.uitest.plugin",
    "vlagent.agent.uitest.binding",
    "vlagent.agent.uitest.options",
    "vlagent.agent.uitest.session",
}
HEAVY = ("pydantic", "PIL", "numpy", "torch", "transformers", "adbutils", "mss")

RECORD_MODULES = """
import json, sys

def test_nothing_of_vlagent_is_loaded():
    loaded = {"vlagent": sorted(m for m in sys.modules if m.split(".")[0] == "vlagent"),
              "heavy": sorted(m for m in HEAVY if m in sys.modules)}
    with open("modules.json", "w") as f:
        json.dump(loaded, f)
"""


def test_the_plugin_imports_nothing_of_the_library_in_a_session_that_does_not_use_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_plain=f"HEAVY = {HEAVY!r}\n" + RECORD_MODULES)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=1)
    loaded = json.loads((pytester.path / "modules.json").read_text())
    assert set(loaded["vlagent"]) <= PLUGIN_CHAIN, loaded["vlagent"]
    assert loaded["heavy"] == [], "the plugin's import pulled in " + ", ".join(loaded["heavy"])
    assert "--vl-model" in pytester.runpytest_subprocess("--help", timeout=120).stdout.str()


USER_TEST = """
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_my_own_packages_with_vlagent_beside_them(vl_environment):
    import importlib

    for name in NAMES:
        mine = importlib.import_module(name)
        assert mine.OWNER == "user-project", (name, mine.__file__)
        assert Path(mine.__file__).resolve().parent.parent == HERE
    from vlagent.tools import ToolCall

    home = ToolCall("mobile_use", {"action": "system_button", "button": "Home"})
    assert vl_environment.execute(vl_environment.toolset.validate(home)).ok
"""


def test_a_user_project_with_packages_named_like_our_folders_imports_its_own(
    pytester: pytest.Pytester,
) -> None:
    """The user's own agent/tools/prompts/environments (every folder the wheel maps), imported in
    a session where vlagent's plugin is loaded and a vlagent fixture is used."""
    names = _our_folders()
    assert {"agent", "tools", "prompts", "environments"} <= set(names)
    for name in names:
        package = pytester.mkpydir(name)
        (package / "__init__.py").write_text('OWNER = "user-project"\n')
    pytester.makeini("[pytest]\npythonpath = .\n")
    pytester.makepyfile(test_mine=f"NAMES = {names!r}\n" + USER_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=180)
    result.assert_outcomes(passed=1)


def test_vlagent_modules_never_import_the_folders_by_their_repository_names() -> None:
    """Installed, there is no top-level agent/tools/prompts/environments: every import of ours is
    spelled vlagent.<folder> (in the package, the tests, benchmarks, examples and docs)."""
    import re

    folders = "|".join(_our_folders())
    bare = re.compile(rf"^\s*(?:from|import)\s+(?:{folders})(?:\.|\s|$)", re.MULTILINE)
    offenders = []
    for pattern in ("**/*.py", "**/*.md"):
        for path in ROOT.glob(pattern):
            parts = path.relative_to(ROOT).parts
            if parts[0] in (".ci", ".git") or "site-packages" in parts:
                continue
            offenders += [
                f"{path.relative_to(ROOT)}: {m.group(0).strip()}"
                for m in bare.finditer(path.read_text("utf-8", errors="replace"))
            ]
    assert offenders == []
