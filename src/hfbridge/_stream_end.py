"""The shape of a stream end rule, below both layers that use it.

A route (``wire``) carries its rule (the rules themselves are in :mod:`hfbridge.wire.stream_end`)
and the transport asks it at the end of every stream; neither layer may import the other, so the
shape and the strict default live here.
"""

from __future__ import annotations

from typing import Any, Final, Protocol


class StreamEndRule(Protocol):
    """When a body that ends without ``[DONE]`` is still a complete stream (``[DONE]`` always is).

    The client folds every parsed event into a state, ``state = rule.step(state, event)`` from
    ``rule.start``, and at the end of the body raises ``HFStreamError`` unless
    ``rule.finished(state)``. Both functions are pure. ``expects`` names what a complete stream
    ends with, for the error message.
    """

    @property
    def name(self) -> str:
        """A short name, for logs and tests."""

    @property
    def expects(self) -> str:
        """What a complete stream has received by its end (``""``: only ``[DONE]`` will do)."""

    @property
    def start(self) -> Any:
        """The state before the first event."""

    def step(self, state: Any, event: Any, /) -> Any:
        """The state after ``event``."""

    def finished(self, state: Any, /) -> bool:
        """Whether a stream in ``state`` is complete when its body ends."""


class RequireDone:
    """The strict rule: only ``[DONE]`` completes a stream (routes without a rule of their own)."""

    __slots__ = ()
    name: Final = "require-done"
    expects: Final = ""
    start: Final = None

    @staticmethod
    def step(state: Any, event: Any) -> Any:  # noqa: ARG004 - the rule's signature
        """Events change nothing."""
        return state

    @staticmethod
    def finished(state: Any) -> bool:  # noqa: ARG004 - the rule's signature
        """Never complete without ``[DONE]``."""
        return False


REQUIRE_DONE: Final = RequireDone()
