"""Helpers shared by the tests: scripted answers and running the CLI in a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# MuJoCo picks its GL backend from these when first imported. The caller chooses it (the library
# never writes os.environ): here, software rendering for the whole suite and its subprocesses.
os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")

# Nothing in the suite downloads from a model hub: transformers (here and in every subprocess the
# tests start) sees the hub as offline.
os.environ["HF_HUB_OFFLINE"] = "1"

# pytester tests the UI-testing plugin; the virtual-phone fixtures (adb_server, phone) serve
# every folder.
pytest_plugins = ["pytester", "tests.environments.android_fixtures"]


def tool_call(tool: str = "mobile_use", **arguments: Any) -> str:
    """A Qwen-style answer holding one call."""
    body = json.dumps({"name": tool, "arguments": arguments})
    return f"<tool_call>\n{body}\n</tool_call>"


def assert_schema_valid(lines: list[dict[str, Any]]) -> None:
    """Every line of a real trajectory satisfies the committed JSON schema (checked by jsonschema,
    not by our own models)."""
    import jsonschema

    from vlagent.agent.trajectory import schema

    validator = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())
    for line in lines:
        validator.validate(line)


def need(module: str) -> Any:
    """Import ``module``; skip when it is missing, except under CI=true, where that fails."""
    if os.environ.get("CI") == "true":
        import importlib

        return importlib.import_module(module)
    return pytest.importorskip(module)


def write_script(path: Path, answers: list[str]) -> Path:
    path.write_text("\n---\n".join(answers) + "\n", encoding="utf-8")
    return path


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``agent ARGS`` as a user runs it: a fresh interpreter through the console entry point."""
    env = {**os.environ, "COLUMNS": "60"}  # a narrow terminal must not wrap error lines
    return subprocess.run(
        [sys.executable, "-m", "vlagent.agent", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def script(tmp_path: Path):  # type: ignore[no-untyped-def]
    """``script([answers])`` → a scripted model spec ``scripted:PATH``."""

    def make(answers: list[str], name: str = "answers.txt") -> str:
        return f"scripted:{write_script(tmp_path / name, answers)}"

    return make


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """``checkpoint(family, name=None, template=None)`` → the folder of a tiny random checkpoint
    of ``family``, built once per session (no download), carrying a published chat template
    (``template`` names one of ``vlagent.agent.testing.PUBLISHED_TEMPLATES``; default: the
    family's).
    ``name`` sets the folder name (dialects read it)."""
    from vlagent.agent.testing import build_checkpoint, published_template

    built: dict[tuple[str, str, str], Path] = {}

    def make(family: str, name: str | None = None, template: str | None = None) -> Path:
        key = (family, name or family, template or family)
        if key not in built:
            built[key] = build_checkpoint(
                family,
                tmp_path_factory.mktemp("ckpt") / key[1],
                template=published_template(key[2]),
            )
        return built[key]

    return make


@pytest.fixture
def sim_arm():  # type: ignore[no-untyped-def]
    """``sim_arm(seed)`` → a SimPickEnvironment (MuJoCo), closed after the test."""
    need("mujoco")
    from vlagent.environments.sim_pick import SimPickEnvironment

    made: list[SimPickEnvironment] = []

    def make(seed: int) -> SimPickEnvironment:
        made.append(SimPickEnvironment(seed=seed))
        return made[-1]

    yield make
    for env in made:
        env.close()


# The one way a served page reports back: each call numbered in the order the page made it.
# A browser sends its requests over several connections, so they can arrive out of order; the
# helper keeps them in the page's order (a test reading the last report reads the latest state).
POST_STATE_JS = """<script>let postStateCount=0;
function postState(body){body.seq=++postStateCount;
  fetch('/state',{method:'POST',body:JSON.stringify(body)});}</script>"""


@contextlib.contextmanager
def serve_page(page: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """``page`` served on 127.0.0.1 for a browser under test: yields its URL and the JSON bodies
    the page sent with ``postState(body)`` (defined for it), in the order the page sent them."""
    import bisect
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    assert "fetch(" not in page, "a served page reports with postState(body), kept in order"
    served = page.replace("<head>", "<head>" + POST_STATE_JS, 1).encode()
    posts: list[dict[str, Any]] = []
    order: list[int] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(served)))
            self.end_headers()
            self.wfile.write(served)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seq = body.pop("seq")
            with lock:
                at = bisect.bisect(order, seq)
                order.insert(at, seq)
                posts.insert(at, body)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", posts
    finally:
        server.shutdown()
