"""Run as ``python -m tests.agent.serve_capture ARGS…`` in place of ``transformers serve ARGS…``:
the real server, with two additions for the tests.

- Every prompt the server renders through a chat template is appended (as one JSON string per
  line) to the file named by ``VLAGENT_CAPTURE``: what the model would read.
- A processor that ``AutoProcessor`` cannot build without torchvision (Qwen-family video
  processors) is built the way vlagent's local runtime builds it, so Qwen folders can be served
  on a machine without torchvision too.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from typing import Any

import transformers
from transformers.processing_utils import ProcessorMixin

from vlagent.agent.runtimes.processors import load_processor

_apply = ProcessorMixin.apply_chat_template
_auto = transformers.AutoProcessor.from_pretrained
_NOT_TEXT = (
    *"tokenize return_dict return_tensors load_audio_from_video padding truncation".split(),
)


def _capturing_apply(self: Any, conversation: Any, *args: Any, **kwargs: Any) -> Any:
    text_kwargs = {k: v for k, v in kwargs.items() if k not in _NOT_TEXT}
    text = _apply(self, conversation, *args, tokenize=False, **text_kwargs)
    with open(os.environ["VLAGENT_CAPTURE"], "a", encoding="utf-8") as capture:
        capture.write(json.dumps(text) + "\n")
    return _apply(self, conversation, *args, **kwargs)


def _processor(path: str, *args: Any, **kwargs: Any) -> Any:
    model_type = transformers.AutoConfig.from_pretrained(path).model_type
    transformers.AutoProcessor.from_pretrained = _auto  # load_processor tries AutoProcessor first
    try:
        return load_processor(path, model_type)
    finally:
        transformers.AutoProcessor.from_pretrained = _processor  # type: ignore[method-assign]


ProcessorMixin.apply_chat_template = _capturing_apply  # type: ignore[method-assign]
transformers.AutoProcessor.from_pretrained = _processor  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.argv = ["transformers", "serve", *sys.argv[1:]]
    runpy.run_module("transformers.cli.transformers", run_name="__main__")
