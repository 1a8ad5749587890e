"""JSON-schema constrained decoding for the local runtime, through xgrammar when it is installed.

A prompt that carries a JSON schema is decoded under it, so its answer always parses. Without
xgrammar, ``constrained="auto"`` decodes freely (said once in the log) and ``"on"`` refuses.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from typing import Any

from vlagent.agent.runtimes.base import RuntimeFailure
from vlagent.prompts import Prompt

log = logging.getLogger("vlagent.local")


class JsonGrammar:
    """Builds one xgrammar logits processor per ``generate`` call (it keeps per-row matcher
    state); the grammar compiler, built from the tokenizer once, is kept."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self._compiler: Any = None
        self._told_unconstrained = False

    def processor_for(self, prompts: list[Prompt], tokenizer: Any, model: Any) -> Any:
        """An xgrammar logits processor for prompts that carry a JSON schema, or None."""
        schemas = [p.json_schema for p in prompts]
        if self.mode == "off" or not any(schemas):
            return None
        if importlib.util.find_spec("xgrammar") is None:
            if self.mode == "on":
                raise RuntimeFailure(
                    "constrained decoding needs xgrammar: pip install --no-deps xgrammar "
                    "apache-tvm-ffi"
                )
            if not self._told_unconstrained:
                log.info(
                    "xgrammar is not installed: answers are not constrained to the JSON schema"
                )
                self._told_unconstrained = True
            return None
        if not all(schemas):
            raise RuntimeFailure("a batch mixes prompts with and without a JSON schema")
        import xgrammar

        if self._compiler is None:
            vocab_size = model.get_output_embeddings().weight.shape[0]
            info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
            self._compiler = xgrammar.GrammarCompiler(info)
        # No free whitespace: a model may otherwise pad the JSON with spaces until it runs out
        # of tokens, and the answer never closes.
        compiled = [
            self._compiler.compile_json_schema(json.dumps(s), any_whitespace=False) for s in schemas
        ]
        from xgrammar.contrib.hf import LogitsProcessor

        return LogitsProcessor(compiled)
