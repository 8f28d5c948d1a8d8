"""When does a stream end complete? The rules the transport asks, one per kind of stream. Pure.

``[DONE]`` always ends a stream completely. A body that simply stops (EOF) is judged by the route's
rule, folded over every event as it arrives:

- :data:`CHOICES_FINISHED` (chat completions, ``/v1/completions``): complete once every choice
  seen has received a ``finish_reason``. Many servers end that way without ``[DONE]``: cerebras
  through the router, TGI 1.x and 2.x. Usage often follows in a later chunk; a stream that ends
  after the finish but before usage is still complete (its answer is whole, its usage unknown).
  A stream that stops before any finish reason was cut.
- :data:`FINAL_EVENT` (TGI ``/generate_stream``, hf-inference text generation): complete once the
  event carrying ``generated_text`` arrived (there is never a ``[DONE]``).
- :data:`TERMINAL_EVENT` (the Responses API): complete once ``response.completed`` or
  ``response.incomplete`` arrived (no server sends ``[DONE]`` after them).

A rule is a value: the transport keeps ``state = rule.step(state, event)`` from ``rule.start`` and
asks ``rule.finished(state)`` at EOF (see ``hfbridge.transport.sse.StreamEndRule``), so a route
object can carry it.
"""

from __future__ import annotations

from typing import Any, Final

ChoicesState = tuple[frozenset[int], frozenset[int]]
"""(choice indices seen, choice indices that received a finish reason)."""
_NO_CHOICES: Final[ChoicesState] = (frozenset(), frozenset())


class ChoicesFinished:
    """Complete at EOF once every choice seen has a ``finish_reason`` (OpenAI-style chunks)."""

    __slots__ = ()
    name: Final = "choices-finished"
    expects: Final = "a finish_reason for every choice"
    start: Final[ChoicesState] = _NO_CHOICES

    @staticmethod
    def step(state: ChoicesState, event: Any) -> ChoicesState:
        """``state`` after ``event`` (chunks without choices, e.g. usage only, change nothing)."""
        choices = event.get("choices") if type(event) is dict else None
        if not choices or type(choices) is not list:
            return state
        if len(choices) == 1:  # the common chunk: one known choice, not finishing
            choice = choices[0]
            if (
                type(choice) is dict
                and not choice.get("finish_reason")
                and choice.get("index", 0) in state[0]
            ):
                return state
        seen, finished = state
        changed = False  # the common chunk (a known choice, no finish) leaves the state as it is
        for choice in choices:
            if type(choice) is not dict:
                continue
            index = choice.get("index", 0)
            if type(index) is not int:
                index = 0
            if choice.get("finish_reason"):
                if index not in finished:
                    finished, seen, changed = finished | {index}, seen | {index}, True
            elif index not in seen:
                seen, changed = seen | {index}, True
        return (seen, finished) if changed else state

    @staticmethod
    def finished(state: ChoicesState) -> bool:
        """True when some choice finished and none seen is still open."""
        seen, finished = state
        return bool(finished) and seen <= finished


class FinalEventSeen:
    """Complete at EOF once the event carrying ``generated_text`` arrived (TGI token streams)."""

    __slots__ = ()
    name: Final = "final-event"
    expects: Final = "its final event (the one carrying 'generated_text')"
    start: Final = False

    @staticmethod
    def step(state: bool, event: Any) -> bool:
        """``True`` from the final event on."""
        return state or (type(event) is dict and isinstance(event.get("generated_text"), str))

    @staticmethod
    def finished(state: bool) -> bool:
        """Whether the final event arrived."""
        return state


class TerminalEventSeen:
    """Complete at EOF once a terminal Responses API event arrived."""

    __slots__ = ()
    name: Final = "terminal-event"
    expects: Final = "its terminal event (response.completed or response.incomplete)"
    start: Final = False
    TERMINAL: Final = frozenset({"response.completed", "response.incomplete"})

    @classmethod
    def step(cls, state: bool, event: Any) -> bool:
        """``True`` from the terminal event on."""
        return state or (type(event) is dict and event.get("type") in cls.TERMINAL)

    @staticmethod
    def finished(state: bool) -> bool:
        """Whether the terminal event arrived."""
        return state


CHOICES_FINISHED: Final = ChoicesFinished()
"""The end rule of chat completion and text completion streams."""
FINAL_EVENT: Final = FinalEventSeen()
"""The end rule of TGI ``/generate_stream`` and hf-inference text-generation streams."""
TERMINAL_EVENT: Final = TerminalEventSeen()
"""The end rule of Responses API streams."""
