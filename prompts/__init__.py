"""How each model family is spoken to: dialects render prompts and parse answers."""

from vlagent.prompts.base import (
    CoordinateFrame,
    Dialect,
    Message,
    ParseError,
    Prompt,
    call_text,
    model_call,
    normalize_call,
)
from vlagent.prompts.families import FAMILIES, Family, family_for, family_named
from vlagent.prompts.jsonanswer import JsonAnswer
from vlagent.prompts.qwen import Qwen3FunctionCalling, Qwen25FunctionCalling, QwenFunctionCalling
from vlagent.prompts.registry import UnknownDialect, available, dialect_for, get_dialect
from vlagent.prompts.resize import ResizeError, ResizeRule
from vlagent.prompts.uitars import UITars, UITars15

__all__ = [
    "FAMILIES",
    "CoordinateFrame",
    "Dialect",
    "Family",
    "JsonAnswer",
    "Message",
    "ParseError",
    "Prompt",
    "Qwen25FunctionCalling",
    "Qwen3FunctionCalling",
    "QwenFunctionCalling",
    "ResizeError",
    "ResizeRule",
    "UITars",
    "UITars15",
    "UnknownDialect",
    "available",
    "call_text",
    "dialect_for",
    "family_for",
    "family_named",
    "get_dialect",
    "model_call",
    "normalize_call",
]
