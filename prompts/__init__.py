"""How each model family is spoken to: dialects render prompts and parse answers."""

from prompts.base import CoordinateFrame, Dialect, Message, ParseError, Prompt, normalize_call
from prompts.qwen import QwenFunctionCalling
from prompts.registry import UnknownDialect, available, dialect_for, get_dialect

__all__ = [
    "CoordinateFrame", "Dialect", "Message", "ParseError", "Prompt", "QwenFunctionCalling",
    "UnknownDialect", "available", "dialect_for", "get_dialect", "normalize_call",
]
