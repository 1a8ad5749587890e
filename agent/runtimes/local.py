"""The local runtime: any checkpoint that ``AutoModelForImageTextToText`` and ``AutoProcessor``
load, by Hugging Face id or local folder, generating on this machine's GPU or CPU.

The prompt is rendered by the checkpoint's own chat template (with ``tools=`` when the template
takes them, else with the dialect's tools section written into the system message), batched with
left padding, and generated greedily unless a temperature is set. With xgrammar installed,
prompts that carry a JSON schema are decoded under it, so their answers always parse.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from pathlib import Path
from typing import Any

from vlagent.agent.runtimes.base import (
    Completion,
    ModelUnavailable,
    Runtime,
    RuntimeFailure,
    RuntimeOptions,
)
from vlagent.agent.runtimes.grammar import JsonGrammar
from vlagent.agent.runtimes.hub import (
    check_obtainable,
    is_local_folder,
    load_error,
    looks_like_hub_id,
)
from vlagent.agent.runtimes.prefix import PrefixCache, cache_keyword, prefix_cache_for
from vlagent.agent.runtimes.processors import (
    load_processor,
    pixel_budget,
    resize_rule,
    transformers_module,
)
from vlagent.agent.runtimes.templates import template_takes_tools
from vlagent.prompts import Prompt, family_for

log = logging.getLogger("vlagent.local")


class _Clock:
    """A logits processor that only notes when the first token's logits arrive: prefill ends
    there, decoding starts."""

    def __init__(self) -> None:
        self.first: float | None = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.first is None:
            if getattr(scores, "is_cuda", False):
                # A GPU computes asynchronously: without waiting (once) for the first logits,
                # prefill would end when its kernels are queued, not when they are done.
                import torch

                torch.cuda.synchronize(scores.device)
            self.first = time.perf_counter()
        return scores


class TransformersRuntime(Runtime):
    """A vision-language checkpoint run through Hugging Face transformers."""

    name = "transformers"

    def __init__(self, model: str, options: RuntimeOptions | None = None) -> None:
        self.model_id = model
        self.options = options or RuntimeOptions()
        try:
            import torch

            transformers_module()
        except ImportError as exc:
            raise ModelUnavailable(
                f"the local runtime needs torch and transformers ({exc}); "
                "install them with: pip install torch==2.13.0 transformers"
            ) from None
        self._torch = torch
        if not is_local_folder(model) and not looks_like_hub_id(model):
            raise ModelUnavailable(
                f"no model folder {model!r}; give a local folder, a Hugging Face id like "
                "Qwen/Qwen2.5-VL-3B-Instruct, or scripted:FILE"
            )
        check_obtainable(model)
        model = str(Path(model).expanduser()) if is_local_folder(model) else model
        self._load(model)

    # -- loading -------------------------------------------------------------------------------

    @classmethod
    def from_loaded(
        cls,
        model: Any,
        processor: Any,
        model_id: str = "",
        options: RuntimeOptions | None = None,
    ) -> TransformersRuntime:
        """A runtime around a model and processor already in memory: a stack that loads (or
        builds) its own model hands it over instead of a folder. The screenshot budget is the
        processor's own (``options.max_pixels`` and ``min_pixels`` do not apply); the model stays
        on its device and in its dtype, but is put in eval mode, and the tokenizer pads on the
        left (batched generation continues every row at its end)."""
        _check_loaded(model, processor)
        runtime = cls.__new__(cls)
        runtime.model_id = model_id or str(getattr(model.config, "name_or_path", "") or "")
        runtime.options = options or RuntimeOptions()
        import torch

        runtime._torch = torch
        attention = str(getattr(model.config, "_attn_implementation", None))
        runtime._adopt(
            model, processor, {"dtype": str(model.dtype), "attn_implementation": attention}
        )
        return runtime

    def _load(self, model: str) -> None:
        transformers = transformers_module()
        cuda = self._torch.cuda.is_available()
        try:
            config = transformers.AutoConfig.from_pretrained(model)
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(load_error(model, exc)) from None
        family = family_for(model, config.model_type)
        budget = pixel_budget(family.resize if family else None, self.options)
        try:
            processor = load_processor(model, config.model_type, **budget)
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(load_error(model, exc)) from None
        load: dict[str, Any] = {
            "dtype": self._dtype(cuda),
            "attn_implementation": self._attention(cuda),
        }
        if self.options.device_map is not None or cuda:
            load["device_map"] = self.options.device_map or "auto"
        if self.options.quantization is not None:
            load["quantization_config"] = self._quantization()
        try:
            loaded = transformers.AutoModelForImageTextToText.from_pretrained(model, **load)
        except (OSError, ValueError, ImportError) as exc:
            raise ModelUnavailable(load_error(model, exc)) from None
        self._adopt(loaded, processor, {k: str(v) for k, v in load.items()})

    def _adopt(self, model: Any, processor: Any, load_options: dict[str, str]) -> None:
        """Take a loaded model and its processor into use: the resize rule the dialect is told
        (read from the processor, for the families that resize), left padding, the chat
        template's tool support, prefix reuse and the JSON grammar."""
        self.model: Any = model
        self.processor: Any = processor
        self.model_type = model.config.model_type
        family = family_for(self.model_id, self.model_type)
        if family is not None and family.resize is not None:
            try:
                self.resize = resize_rule(processor.image_processor)
            except ValueError as exc:  # min above max, say
                raise ModelUnavailable(f"the processor's pixel budget is unusable: {exc}") from None
        tokenizer = processor.tokenizer
        tokenizer.padding_side = "left"  # batched generation continues every row at its end
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.model.eval()
        self.device = next(self.model.parameters()).device
        self.load_options = {k: v for k, v in load_options.items() if k != "quantization_config"}
        self.template_takes_tools = template_takes_tools(processor, self.model_id)
        self.prefix = prefix_cache_for(model.config, self.options.reuse_prefix)
        self.grammar = JsonGrammar(self.options.constrained)

    def _dtype(self, cuda: bool) -> Any:
        torch = self._torch
        chosen = self.options.dtype
        if chosen == "auto":
            if not cuda:
                return torch.float32  # CPUs are slow and often wrong in half precision
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[chosen]

    def _attention(self, cuda: bool) -> str:
        chosen = self.options.attention
        has_flash = importlib.util.find_spec("flash_attn") is not None
        if chosen == "flash_attention_2" and not (cuda and has_flash):
            raise ModelUnavailable(
                "attention flash_attention_2 needs CUDA and the flash-attn package "
                "(pip install 'vlagent[flash]'); or use --attention sdpa"
            )
        if chosen == "auto":
            return "flash_attention_2" if cuda and has_flash else "sdpa"
        return chosen

    def _quantization(self) -> Any:
        if importlib.util.find_spec("bitsandbytes") is None:
            raise ModelUnavailable(
                f"{self.options.quantization} loading needs bitsandbytes: pip install bitsandbytes"
            )
        bits_and_bytes = transformers_module().BitsAndBytesConfig
        if self.options.quantization == "4bit":
            return bits_and_bytes(load_in_4bit=True, bnb_4bit_compute_dtype=self._dtype(True))
        return bits_and_bytes(load_in_8bit=True)

    # -- generation ----------------------------------------------------------------------------

    def chat_text(self, prompt: Prompt) -> str:
        """The prompt as the checkpoint's chat template writes it, ending with the assistant
        turn."""
        if prompt.tools and self.template_takes_tools:
            text = self.processor.apply_chat_template(
                prompt.messages, tools=prompt.tools, tokenize=False, add_generation_prompt=True
            )
        else:
            text = self.processor.apply_chat_template(
                prompt.inline_messages(), tokenize=False, add_generation_prompt=True
            )
        return str(text)

    def generate(self, prompts: list[Prompt]) -> list[Completion]:
        if not prompts:
            return []
        started = time.perf_counter()
        texts = [self.chat_text(p) for p in prompts]
        images = [p.images() for p in prompts]
        inputs = self._inputs(texts, images)
        self._check_resize(prompts, inputs)
        prepared = time.perf_counter()
        clock = _Clock()
        processors, sampling = self._decoding(prompts, clock)
        # One prompt at a time (the agent loop): start from the kept states of the text the
        # previous prompt shared with this one.
        # A prompt without an image is prefilled in full: continued from a kept prefix, the Qwen
        # families place it at the last image prompt's positions (transformers 5.25).
        prefix = self.prefix if len(prompts) == 1 and images[0] else None
        ids = inputs["input_ids"][0].tolist() if prefix is not None else []
        past = prefix.take(ids) if prefix is not None else None
        if past is not None:
            sampling[cache_keyword()] = past
        result = self._run_model(inputs, processors, sampling, prefix)
        output = result.sequences
        if prefix is not None:
            prefix.keep(ids, result[cache_keyword()])
        finished = time.perf_counter()
        first = clock.first or finished
        timings = {
            "prepare": round((prepared - started) * 1000, 3),
            "prefill": round((first - prepared) * 1000, 3),
            "decode": round((finished - first) * 1000, 3),
        }
        reused = prefix.reused if past is not None and prefix is not None else 0
        return self._completions(texts, inputs, output, timings, reused)

    def _inputs(self, texts: list[str], images: list[list[Any]]) -> Any:
        """The batch's model inputs (left-padded), on the model's device."""
        try:
            return self.processor(
                text=texts,
                images=images if any(images) else None,
                padding=True,
                return_tensors="pt",
            ).to(self.device)
        except (ValueError, TypeError, RuntimeError) as exc:
            raise RuntimeFailure(f"the processor could not prepare the prompt: {exc}") from None

    def _check_resize(self, prompts: list[Prompt], inputs: Any) -> None:
        """Refuse a screenshot the processor resized otherwise than the size its answer will be
        read in (``model_image_size``, for dialects that answer in pixels of the resized image):
        a budget changed after the runtime was made, a dialect told another rule, a transformers
        release that reads the budget differently. Its clicks would land in the wrong place."""
        grid = inputs.get("image_grid_thw")
        if grid is None:
            return
        patch = int(self.processor.image_processor.patch_size)
        shown = iter([(int(w) * patch, int(h) * patch) for _, h, w in grid.tolist()])
        for prompt in prompts:
            for read_in in prompt.image_frames():
                size = next(shown, None)
                if read_in is not None and size is not None and tuple(read_in) != size:
                    raise RuntimeFailure(
                        f"the model is shown a screenshot at {size[0]}x{size[1]}, but its answer "
                        f"would be read as if at {read_in[0]}x{read_in[1]}: make the dialect "
                        "with the runtime's resize "
                        "rule (dialect_for(..., runtime.resize)) and set the pixel budget "
                        "before the runtime is made (size=, or --max-pixels)"
                    )

    def _decoding(self, prompts: list[Prompt], clock: _Clock) -> tuple[Any, dict[str, Any]]:
        """The logits processors (``clock``, then the JSON grammar if any) and the sampling
        arguments; seeds torch when a seed is set."""
        processors = transformers_module().LogitsProcessorList([clock])
        grammar = self.grammar.processor_for(prompts, self.processor.tokenizer, self.model)
        if grammar is not None:
            processors.append(grammar)
        sampling: dict[str, Any] = {"do_sample": False}
        if self.options.temperature > 0:
            sampling = {"do_sample": True, "temperature": self.options.temperature}
        if self.options.seed is not None:
            self._torch.manual_seed(self.options.seed)
        return processors, sampling

    def _run_model(
        self, inputs: Any, processors: Any, sampling: dict[str, Any], prefix: PrefixCache | None
    ) -> Any:
        """``model.generate`` on the batch; a failure drops the kept prefix states (they may be
        half-used) and is reported as a :class:`RuntimeFailure`."""
        try:
            with self._torch.inference_mode():
                return self.model.generate(
                    **inputs,
                    max_new_tokens=self.options.max_new_tokens,
                    logits_processor=processors,
                    pad_token_id=self.processor.tokenizer.pad_token_id,
                    return_dict_in_generate=True,
                    **sampling,
                )
        except (RuntimeError, ValueError) as exc:  # out of memory, shape errors: say which
            if prefix is not None:
                prefix.drop()
            raise RuntimeFailure(f"generation failed: {type(exc).__name__}: {exc}") from None

    def _completions(
        self,
        texts: list[str],
        inputs: Any,
        output: Any,
        timings: dict[str, float],
        reused: int,
    ) -> list[Completion]:
        """One completion per row: the generated tokens up to the first end token, decoded."""
        prompt_length = inputs["input_ids"].shape[1]
        eos = self._eos_ids()
        completions = []
        for text_in, row, mask in zip(texts, output, inputs["attention_mask"]):
            generated = row[prompt_length:].tolist()
            length = next((i + 1 for i, t in enumerate(generated) if t in eos), len(generated))
            text = self.processor.tokenizer.decode(generated[:length], skip_special_tokens=True)
            completions.append(
                Completion(
                    text=text,
                    prompt_tokens=int(mask.sum()),
                    completion_tokens=length,
                    timings_ms=dict(timings),
                    prompt_text=text_in,
                    reused_prompt_tokens=reused,
                )
            )
        return completions

    def _eos_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.processor.tokenizer.eos_token_id is not None:
            ids.add(self.processor.tokenizer.eos_token_id)
        return ids

    def describe(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "max_new_tokens": self.options.max_new_tokens,
            "temperature": self.options.temperature,
            "seed": self.options.seed,
            "template_takes_tools": self.template_takes_tools,
            "constrained": self.options.constrained,
            **self.load_options,
        }
        if self.resize is not None:
            options["resize"] = {
                "factor": self.resize.factor,
                "min_pixels": self.resize.min_pixels,
                "max_pixels": self.resize.max_pixels,
            }
        return {
            "id": self.model_id,
            "runtime": self.name,
            "model_type": self.model_type,
            "options": options,
        }

    def close(self) -> None:
        self.model = None
        if self._torch.cuda.is_available():
            self._torch.cuda.empty_cache()


def _check_loaded(model: Any, processor: Any) -> None:
    """One line for a model or processor that ``from_loaded`` cannot use."""
    if not all(hasattr(processor, part) for part in ("image_processor", "tokenizer")):
        raise ModelUnavailable(
            f"from_loaded needs the model's processor (with an image processor and a tokenizer, "
            f"as AutoProcessor.from_pretrained gives it), not a {type(processor).__name__}"
        )
    head = getattr(model, "get_output_embeddings", None)
    if getattr(model, "config", None) is None or head is None or head() is None:
        raise ModelUnavailable(
            f"from_loaded needs a model that generates text (AutoModelForImageTextToText), not a "
            f"{type(model).__name__}"
        )
