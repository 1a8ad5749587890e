"""What ``metrics.json`` records about where a number came from besides the data and the rules:
the software that made it and the exact model (a checkpoint's hash or revision, a script's or a
function's source hash), so that the number can be made again or told apart.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import platform
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlagent.agent.runtimes.function import from_working_folder

if TYPE_CHECKING:
    from vlagent.agent.core.build import ModelSpec

_PACKAGES = ("vlagent", "transformers", "torch", "protobuf", "pillow", "numpy")
# A checkpoint's weights can be tens of GB: they are identified by name and size, the small files
# that say what the model is (config, tokenizer, template) by their contents.
_SMALL = 4 << 20


def versions() -> dict[str, str | None]:
    """The versions of Python and of the packages a verdict can depend on (None: not
    installed)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    found["platform"] = platform.platform()
    return found


def model_identity(model: str, endpoint: str | None = None) -> dict[str, Any]:
    """What exactly ``model`` was: for ``scripted:`` the script's hash, for ``python:`` its
    module's source hash, for a local folder a hash of its files (see ``_SMALL``), for a Hugging
    Face id the revision the local cache holds; with an endpoint only the served name is known."""
    if endpoint is not None:
        return {"kind": "served", "name": model, "note": "the server's own weights"}
    if model.startswith("scripted:"):
        return {"kind": "script", "sha256": _hash_file(Path(model.removeprefix("scripted:")))}
    if model.startswith("python:"):
        module = model.removeprefix("python:").partition(":")[0]
        with from_working_folder():  # where the runtime imported it from
            spec = importlib.util.find_spec(module) if module else None
        origin = Path(spec.origin) if spec is not None and spec.origin else None
        return {"kind": "function", "source_sha256": _hash_file(origin) if origin else None}
    folder = Path(model)
    if folder.is_dir():
        return {"kind": "checkpoint", "sha256": checkpoint_hash(folder)}
    return {"kind": "hub", "id": model, "revision": _hub_revision(model)}


def identifying_name(model: str, identity: dict[str, Any] | None) -> str:
    """``model`` as a resume compares it: a script or a checkpoint folder by its content hash
    (``./tiny``, ``tiny`` and ``/home/me/tiny`` are one model, and a changed file is another),
    anything else by its name."""
    if identity and identity.get("kind") in ("script", "checkpoint") and identity.get("sha256"):
        return str(identity["sha256"])
    return model


def checkpoint_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(folder).as_posix()}\0{size}\0".encode())
        if size <= _SMALL:
            digest.update(path.read_bytes())
    return "sha256:" + digest.hexdigest()


def _hash_file(path: Path) -> str | None:
    try:
        return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _hub_revision(model: str) -> str | None:
    """The commit of the cached snapshot of ``model`` (its folder's name in the hub cache)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(model, "config.json")
    except Exception:  # no hub library, or an id it refuses: the revision is just unknown
        return None
    return Path(found).parent.name if isinstance(found, str) else None


def command_line(dataset: str, options: dict[str, Any]) -> str:
    """``agent eval`` with every option at its effective value: the command that makes the
    number again (add ``--out``)."""
    words = ["agent", "eval", dataset]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is None or value is False or value == () or value == []:
            continue
        if value is True:
            words.append(flag)
        elif isinstance(value, (list, tuple)):
            for item in value:
                words += [flag, str(item)]
        else:
            words += [flag, str(value)]
    return shlex.join(words)


_MODEL_FLAGS = (
    "max_new_tokens",
    "temperature",
    "seed",
    "dtype",
    "attention",
    "device_map",
    "quantization",
    "max_pixels",
    "min_pixels",
    "constrained",
)
_CHOICES = ("skip_damaged", "skip_missing", "allow_other_benchmark", "failed_steps", "step_retries")


def effective_options(
    dataset: dict[str, Any],
    model: ModelSpec,
    named: dict[str, str],
    ui_tree: bool,
    choices: dict[str, Any],
) -> dict[str, Any]:
    """Every option that makes the number, at the value it took — the format and level as read,
    the protocol's pixel budget (``dataset``: the account of :func:`read_dataset`; ``named``: the
    dialect, protocol and scorer used; ``choices``: the command's flags of that name)."""
    formats = dataset["format"]
    selection = dataset["selection"]
    return {
        "model": model.model,
        "dialect": named["dialect"],
        "format": formats.split("-")[0] if isinstance(formats, str) else "auto",
        "level": dataset["level"] if dataset["level"] in ("high", "low") else None,
        "split": dataset["split"],
        "protocol": named["protocol"],
        "scorer": named["scorer"],
        "episode": selection["episodes"],
        "category": selection["categories"],
        "action_type": selection["action_types"],
        "sample": selection["sample"],
        "sample_seed": selection["seed"] if selection["sample"] else None,
        "limit": selection["limit"],
        "ui_tree": ui_tree,
        **{k: choices[k] for k in _CHOICES},
        **{k: getattr(model.options, k) for k in _MODEL_FLAGS},
    }


def run_record(dataset: str, options: dict[str, Any], model: ModelSpec) -> dict[str, Any]:
    """The command that makes the number again, its options and the model's identity."""
    return {
        "command": command_line(dataset, options),
        "options": options,
        "model": {
            **model_identity(model.model, model.endpoint),
            "served_by": "an endpoint" if model.endpoint else "this machine",
        },
    }
