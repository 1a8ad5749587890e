"""Fetch, here, the wheels benchmarks/gpu.py needs on the lent GPU machine, for its Python and
platform.

That machine has torch, transformers 5.17, accelerate, tokenizers, jinja2, pillow, httpx, typer
and rich, but no pydantic (vlagent's tool schemas), and nothing can be downloaded there. vlagent
itself runs from the checkout (benchmarks/gpu_device.sh links it), so it is always the code being
measured. This writes into ``--dest`` (default ``.whl/``, which git ignores):
- pydantic and the packages it needs that the machine may lack or hold too old, at the versions
  installed here (the tests ran with them);
- transformers 5.24.0, the newest release whose requirements the machine's packages meet, and
  one where prefix reuse is exact for the Qwen families (5.23 or later), with the regex release it
  needs;
- the dashscope wheel, never installed, only read: it holds Qwen's BPE vocabulary
  (benchmarks/qwen_vocab.py).

    python benchmarks/gpu_wheels.py [--dest .whl] [--python-version 3.12]

Then, on the machine: ``bash benchmarks/gpu_device.sh`` (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.qwen_vocab import VOCAB_WHEEL  # noqa: E402

MISSING_THERE = (
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-inspection",
    "typing-extensions",
    "regex",
)
"""What vlagent (and the carried transformers) import on the benchmark's path that the machine's
image does not hold, or may hold older than they need (pydantic-core needs typing-extensions
4.14.1 or later; transformers 5.24 checks regex at import)."""
TRANSFORMERS_THERE = "transformers==5.24.0"
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
)


def pinned(names: tuple[str, ...]) -> list[str]:
    """``name==version`` at the versions installed here, which the tests ran with."""
    return [f"{name}=={metadata.version(name)}" for name in names]


def download(requirements: list[str], dest: Path, python_version: str) -> None:
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"]
        + ["--python-version", python_version, "--implementation", "cp", *platforms]
        + ["-d", str(dest), *requirements],
        check=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=ROOT / ".whl")
    parser.add_argument("--python-version", default="3.12")
    parser.add_argument(
        "--vocabulary-only", action="store_true", help="only the dashscope wheel (for --smoke)"
    )
    args = parser.parse_args(argv)
    args.dest.mkdir(parents=True, exist_ok=True)
    requirements = [VOCAB_WHEEL]
    if not args.vocabulary_only:
        for old in args.dest.glob("*.whl"):
            old.unlink()  # one version of each: two would stop the install there
        requirements += pinned(MISSING_THERE) + [TRANSFORMERS_THERE]
    download(requirements, args.dest, args.python_version)
    for wheel in sorted(args.dest.glob("*.whl")):
        print(f"{wheel.stat().st_size / 2**20:6.1f} MiB  {wheel.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
