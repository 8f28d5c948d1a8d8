"""Sampling parameters: one value, one verdict, whatever the adapter or the route. Pure.

Every adapter (``ChatHF``, ``HFTextGen``, ``HFLLM``) and every request builder (chat completions,
text generation, Responses) checks generation parameters here, at construction and per call, so
that ``top_p=0`` gets the same answer everywhere and a refusal is always an
:class:`~hfbridge.errors.HFConfigError` naming the parameter, the accepted range and the value.

The ranges are what the servers behind hfbridge accept in common (OpenAI's schema, TGI's and
vLLM's validation). Where one server is stricter at an end of a range (TGI refuses ``top_p=1`` and
``typical_p=1``, which mean "no filtering"), the route's request builder sends the equivalent
instead (it leaves the parameter out); the verdict does not change.

Parameters this module does not know pass through unchecked: provider-specific extras are the
server's to judge.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from hfbridge.errors import HFConfigError

__all__ = ["MAX_COUNT", "MAX_SEED", "RULES", "check_param", "check_params"]

MAX_COUNT = 2**31 - 1
"""Largest token count, choice count or ``top_k`` accepted (a 32-bit signed integer)."""
MAX_SEED = 2**64 - 1
"""Largest seed accepted (servers read an unsigned 64-bit integer)."""


def _number(low: float, high: float | None, *, low_open: bool = False) -> Callable[[Any], str]:
    """A rule for a finite number in ``[low, high]`` (``(low, high]`` when ``low_open``)."""
    left = "greater than" if low_open else "at least"
    span = f"{left} {low:g}" + (f" and at most {high:g}" if high is not None else "")

    def rule(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number {span}"
        if not math.isfinite(value):
            return f"must be a finite number {span} (not NaN or infinity)"
        if (value <= low if low_open else value < low) or (high is not None and value > high):
            return f"must be {span}"
        return ""

    return rule


def _integer(low: int, high: int) -> Callable[[Any], str]:
    """A rule for an integer in ``[low, high]``."""

    def rule(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer from {low:,} to {high:,}"
        if not low <= value <= high:
            return f"must be an integer from {low:,} to {high:,}"
        return ""

    return rule


def _flag(value: Any) -> str:
    return "" if isinstance(value, bool) else "must be True or False"


_ZERO_HINTS = {
    "top_p": "; for greedy decoding set temperature=0 instead",
    "typical_p": "; for greedy decoding set temperature=0 instead",
}

RULES: Mapping[str, Callable[[Any], str]] = {
    "temperature": _number(0.0, None),
    "top_p": _number(0.0, 1.0, low_open=True),
    "typical_p": _number(0.0, 1.0, low_open=True),
    "top_k": _integer(1, MAX_COUNT),
    "repetition_penalty": _number(0.0, None, low_open=True),
    "frequency_penalty": _number(-2.0, 2.0),
    "presence_penalty": _number(-2.0, 2.0),
    "max_tokens": _integer(1, MAX_COUNT),
    "max_new_tokens": _integer(1, MAX_COUNT),
    "max_completion_tokens": _integer(1, MAX_COUNT),
    "max_output_tokens": _integer(1, MAX_COUNT),
    "truncate": _integer(1, MAX_COUNT),
    "n": _integer(1, 128),
    "top_logprobs": _integer(0, 20),
    "seed": _integer(0, MAX_SEED),
    "logprobs": _flag,
    "do_sample": _flag,
    "return_full_text": _flag,
    "watermark": _flag,
}
"""Each known parameter's rule: the reason a value is refused, or ``""`` when it is accepted."""


def check_param(name: str, value: Any) -> None:
    """Raise :class:`HFConfigError` when ``value`` is not acceptable for ``name`` (``None`` is)."""
    rule = RULES.get(name)
    if rule is None or value is None:
        return
    reason = rule(value)
    if reason:
        hint = _ZERO_HINTS.get(name, "") if value == 0 else ""
        raise HFConfigError(f"{name} {reason}, got {value!r}{hint}.")


def check_params(params: Mapping[str, Any]) -> None:
    """:func:`check_param` for every known parameter in ``params``."""
    for name, value in params.items():
        if name in RULES:
            check_param(name, value)
