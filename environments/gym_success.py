"""Whether a Gymnasium episode succeeded: a question only the user can answer. A return is not a
verdict (CartPole pays +1 a step whether the pole stands or is about to fall; CliffWalking pays
-1 a step up to its goal), so :class:`~vlagent.environments.FromGym` says "success" or
"failure" only from ``info["is_success"]`` or from a rule the user declares here; otherwise the
run ends ``ended``: neither (docs/environments.md).

A rule is a predicate on ``(obs, reward, terminated, truncated, info, total_return)`` of the
episode's last step: a Python callable, ``package.module:function``, or an expression over those
six names (``truncated``, ``total_return >= 475``, ``info["is_success"]``).
"""

from __future__ import annotations

import ast
import importlib
import re
import warnings
from collections.abc import Callable
from typing import Any

from vlagent.environments.base import EnvironmentFault, EnvironmentUnavailable

SuccessRule = Callable[[Any, float, bool, bool, dict[str, Any], float], Any]
"""``rule(obs, reward, terminated, truncated, info, total_return)`` → True for a success."""

NAMES = ("obs", "reward", "terminated", "truncated", "info", "total_return")
"""What a rule sees of the episode's last step, in the order a callable receives them."""

_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "all": all,
    "any": any,
    "bool": bool,
    "float": float,
    "int": int,
    "len": len,
    "max": max,
    "min": min,
    "sum": sum,
}
"""The only functions an expression may call: pure, on values it already has."""

# The syntax an expression may use: values, arithmetic, comparisons, logic, indexing. No
# attribute access (the way out of every restricted eval: ``().__class__``), no lambdas, no
# comprehensions, no power (``10**10**10`` never returns).
_NODES = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.IfExp,
    ast.Subscript,
    ast.Slice,
    ast.Tuple,
    ast.List,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Call,
)
_FUNCTION_NAME = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def success_rule(rule: str | SuccessRule | None) -> SuccessRule | None:
    """``rule`` as a callable: a callable as given, ``module:function`` imported, any other text
    compiled as an expression. Raises :class:`EnvironmentUnavailable` in one line."""
    if rule is None or callable(rule):
        return rule
    text = rule.strip()
    if not text:
        raise EnvironmentUnavailable(
            "--gym-success is empty: give an expression such as 'truncated' or module:function"
        )
    return _imported(text) if _FUNCTION_NAME.match(text) else _expression(text)


def judge(rule: SuccessRule, *values: Any) -> bool:
    """Whether ``rule`` calls the episode a success. A rule that raises, or answers anything but
    True or False, breaks the run with a one-line :class:`EnvironmentFault`."""
    try:
        verdict = rule(*values)
    except Exception as exc:  # the user's rule failed on this episode; ours is to say so
        raise EnvironmentFault(
            f"the success rule raised {type(exc).__name__}: {str(exc)[:200]}; it receives "
            f"{', '.join(NAMES)}"
        ) from None
    if type(verdict).__name__ in ("bool", "bool_"):  # Python's or NumPy's
        return bool(verdict)
    raise EnvironmentFault(
        f"the success rule answered a {type(verdict).__name__}, not True or False"
    )


def reported_success(value: Any) -> bool:
    """``info["is_success"]`` as a verdict: a bool, or a number as Gymnasium-Robotics gives it
    (1.0 / 0.0). Anything else breaks the run in one line rather than being guessed at."""
    try:
        import numpy as np

        number = isinstance(value, (bool, int, float, np.bool_, np.number))
    except ImportError:  # pragma: no cover - Gymnasium brings NumPy
        number = isinstance(value, (bool, int, float))
    if number and getattr(value, "ndim", 0) == 0:
        return bool(value)
    raise EnvironmentFault(
        f"the environment's info['is_success'] is a {type(value).__name__}, not True or False"
    )


def _imported(text: str) -> SuccessRule:
    module_name, _, attribute = text.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EnvironmentUnavailable(
            f"--gym-success {text}: cannot import {module_name} ({exc}); is it on sys.path?"
        ) from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise EnvironmentUnavailable(
            f"--gym-success {text}: {module_name} has no function {attribute!r}"
        )
    return function  # type: ignore[no-any-return]


def _expression(text: str) -> SuccessRule:
    """``text`` checked against the allowed syntax and names, then compiled once."""
    if len(text) > 1000:
        raise EnvironmentUnavailable("--gym-success: an expression is at most 1000 characters")
    try:
        with warnings.catch_warnings():  # "perhaps you missed a comma": the rule fails when judged
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise EnvironmentUnavailable(
            f"--gym-success {text!r} is not an expression ({exc.msg}); e.g. 'total_return >= 475'"
        ) from None
    for node in ast.walk(tree):
        _allowed(node, text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        code = compile(tree, "<--gym-success>", "eval")

    def rule(*values: Any) -> Any:
        scope: dict[str, Any] = {"__builtins__": {}, **_FUNCTIONS, **dict(zip(NAMES, values))}
        # Safe to evaluate: _allowed admitted only these names, these calls and this syntax.
        return eval(code, scope)

    return rule


def _allowed(node: ast.AST, text: str) -> None:
    if not isinstance(node, _NODES):
        raise EnvironmentUnavailable(
            f"--gym-success {text!r}: {type(node).__name__} is not allowed in a rule (use "
            "values, arithmetic, comparisons, and/or/not, indexing, and abs, len, min, max, "
            "sum, any, all, bool, int, float)"
        )
    if isinstance(node, ast.Name) and node.id not in NAMES and node.id not in _FUNCTIONS:
        raise EnvironmentUnavailable(
            f"--gym-success {text!r}: unknown name {node.id!r}; a rule sees {', '.join(NAMES)}"
        )
    if isinstance(node, ast.Call) and not (
        isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS and not node.keywords
    ):
        raise EnvironmentUnavailable(
            f"--gym-success {text!r}: only {', '.join(_FUNCTIONS)} may be called"
        )
