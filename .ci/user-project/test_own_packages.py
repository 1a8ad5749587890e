"""A user's project with its own ``agent``, ``tools`` and ``prompts`` packages, testing its app
with vlagent's pytest plugin (the phone example's files are copied beside this one by
.ci/check-wheel)."""

from pathlib import Path

import agent
import prompts
import tools

HERE = Path(__file__).resolve().parent


def test_the_projects_own_packages_are_imported() -> None:
    for package in (agent, tools, prompts):
        assert package.OWNER == "user-project"
        assert Path(package.__file__).resolve().parent.parent == HERE


def test_vlagent_lives_beside_them(vl_agent) -> None:  # type: ignore[no-untyped-def]
    import vlagent.tools

    assert "site-packages" in vlagent.tools.__file__
    vl_agent.check("the home screen is shown")
