"""Environment options reach the command line from each environment's own declaration: one flag
per option for the built-in environments (in agent run and agent replay alike), and
--env-option KEY=VALUE for any option, of environments registered in your own code too."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import tool_call, write_script
from vlagent import environments
from vlagent.agent.cli import main
from vlagent.agent.cli.common import CliError
from vlagent.agent.cli.env_flags import EnvFlags, env_options, flag_parameters
from vlagent.environments import MemoryEnvironment, Option, OptionSpec

SPECS = [(env, spec) for env in environments.available() for spec in environments.option_specs(env)]


def test_every_option_of_every_environment_is_a_flag_of_run_and_replay(
    capsys: pytest.CaptureFixture[str],
) -> None:
    flags = {p.name for p in flag_parameters()}
    assert {spec.name for _, spec in SPECS} | {"env_option"} == flags
    for command in ("run", "replay"):
        assert main([command, "--help"]) == 0
        shown = capsys.readouterr().out
        missing = [spec.flag for _, spec in SPECS if spec.flag not in shown]
        assert missing == [] and "--env-option" in shown, command


def _text_and_value(spec: OptionSpec) -> st.SearchStrategy[tuple[str, Any]]:
    low = spec.declared.min if spec.declared is not None and spec.declared.min is not None else None
    if spec.kind == "bool":
        return st.sampled_from([("true", True), ("false", False), ("1", True), ("off", False)])
    if spec.kind == "int":
        return st.integers(min_value=int(low or 0), max_value=10**6).map(lambda n: (str(n), n))
    if spec.kind == "float":
        floats = st.floats(min_value=low or 0.0, max_value=1e6, allow_nan=False)
        return floats.map(lambda x: (repr(x), x))
    words = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20)
    if spec.kind == "list":
        return words.map(lambda w: (w, [w]))
    return words.map(lambda w: (w, w))


@pytest.mark.parametrize(("env", "spec"), SPECS, ids=[f"{e}-{s.name}" for e, s in SPECS])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_a_flag_and_its_key_value_pair_give_the_environment_the_same_value(
    env: str, spec: OptionSpec, data: st.DataObject
) -> None:
    text, value = data.draw(_text_and_value(spec))
    by_flag = env_options(env, EnvFlags(given={spec.name: value}))
    by_pair = env_options(env, EnvFlags(pairs=[f"{spec.name}={text}"]))
    dashed = env_options(env, EnvFlags(pairs=[f"{spec.name.replace('_', '-')}={text}"]))
    assert by_flag == by_pair == dashed == {spec.name: value}


@pytest.mark.parametrize(
    ("env", "spec"), [s for s in SPECS if s[1].kind in ("int", "float", "bool")]
)
def test_a_key_value_pair_that_is_not_the_options_kind_is_a_usage_error(
    env: str, spec: OptionSpec
) -> None:
    with pytest.raises(CliError) as raised:
        env_options(env, EnvFlags(pairs=[f"{spec.name}=many"]))
    assert raised.value.code == 2 and spec.name in str(raised.value)


class Levelled(MemoryEnvironment):
    """A user's own environment with an option no built-in one has."""

    option_help = {"level": Option("How hard the level is.", min=0)}
    made: list[int] = []

    def __init__(self, level: int = 0) -> None:
        super().__init__(size="720x1280", space="mobile")
        Levelled.made.append(level)


def test_an_environment_registered_in_code_takes_its_options_as_env_option_pairs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from vlagent.environments import registry

    name = f"levelled-{uuid.uuid4().hex[:8]}"
    # Registered for this test only: other tests list the registry.
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    environments.register(name, Levelled)
    script = write_script(tmp_path / "a.txt", [tool_call(action="terminate", status="success")])
    common = ["--env", name, "--goal", "g", "--model", f"scripted:{script}"]
    code = main(["run", *common, "--env-option", "level=3", "--out", str(tmp_path / "run")])
    assert code == 0, capsys.readouterr().err
    assert Levelled.made[-1] == 3
    assert main(["run", *common, "--env-option", "level=-1"]) == 2
    assert "below 0" in capsys.readouterr().err
    assert main(["run", *common, "--env-option", "colour=red"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "KEY one of level" in err
    assert main(["run", *common, "--serial", "x"]) == 2  # a built-in flag it does not take


ANNOTATIONS = [
    ("int", "int"),
    ("int | None", "int"),
    ("Optional[int]", "int"),
    ("float", "float"),
    ("float | None", "float"),
    ("Optional[float]", "float"),
    ("bool", "bool"),
    ("Optional[bool]", "bool"),
    ("list[int]", "list"),
    ("Sequence[str]", "list"),
    ("str | None", "str"),
    ("str | Path", "str"),
]


@pytest.mark.parametrize("postponed", [False, True], ids=["resolved", "postponed"])
@pytest.mark.parametrize(("annotation", "kind"), ANNOTATIONS)
def test_an_option_has_the_kind_of_value_its_annotation_asks_for(
    annotation: str, kind: str, postponed: bool, tmp_path: Path
) -> None:
    """However the annotation is written (Optional, a union with None, resolved or postponed)."""
    import importlib.util

    source = (
        ("from __future__ import annotations\n" if postponed else "")
        + "from collections.abc import Sequence\nfrom pathlib import Path\n"
        + "from typing import Optional\n"
        + "from vlagent.environments import MemoryEnvironment\n\n"
        + f"def factory(value: {annotation} = None) -> MemoryEnvironment:\n"
        + "    return MemoryEnvironment()\n"
    )
    path = tmp_path / f"factory_{uuid.uuid4().hex[:6]}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from vlagent.environments.registry import _hints, _kind

    hints = _hints(module.factory)
    assert _kind(hints.get("value", annotation)) == kind


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "1e400"])
def test_a_number_that_is_not_finite_is_a_usage_error_as_flag_and_as_pair(text: str) -> None:
    for flags in (EnvFlags(given={"scale": float(text)}), EnvFlags(pairs=[f"scale={text}"])):
        with pytest.raises(CliError) as raised:
            env_options("memory", flags)
        assert raised.value.code == 2


class Seeded(MemoryEnvironment):
    """A user's environment whose options share names with agent run's own flags and with a
    built-in environment's option of another kind."""

    made: list[tuple[Any, Any]] = []

    def __init__(self, seed: int | None = None, size: int = 3) -> None:
        super().__init__(size="720x1280", space="mobile")
        Seeded.made.append((seed, size))


def test_options_named_like_run_flags_or_of_another_kind_reach_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from vlagent.agent.cli import env_flags
    from vlagent.environments import registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    environments.register("seeded", Seeded)
    env_flags.flag_parameters.cache_clear()
    try:
        parameters = {p.name: p for p in flag_parameters()}
        assert "seed" in parameters  # the environment's; agent run keeps its own --seed
        size = env_options("seeded", EnvFlags(given={"size": "5"}))
        assert size == {"size": 5}  # --size is text for all, converted for the chosen one
        assert env_options("memory", EnvFlags(given={"size": "720x1280"})) == {"size": "720x1280"}
        script = write_script(tmp_path / "a.txt", [tool_call(action="terminate", status="success")])
        argv = ["run", "--env", "seeded", "--goal", "g", "--model", f"scripted:{script}"]
        argv += ["--env-option", "seed=7", "--seed", "1", "--out", str(tmp_path / "run")]
        assert main(argv) == 0, capsys.readouterr().err
        assert Seeded.made[-1] == (7, 3)
    finally:
        env_flags.flag_parameters.cache_clear()
