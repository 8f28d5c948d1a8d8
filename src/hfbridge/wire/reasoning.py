"""Reasoning written inline in the answer as ``<think>...</think>``, split from it. Pure; no I/O.

Models of the DeepSeek-R1 family (and QwQ, Qwen3, ...) open their answer with their reasoning
between ``<think>`` and ``</think>``. Many providers move it to ``reasoning_content`` themselves;
some (and self-hosted servers without a reasoning parser) leave it in ``content``. For a model known
to do it (:func:`thinks_inline`), hfbridge splits it out so that both frameworks report it as
reasoning (LangChain ``additional_kwargs["reasoning_content"]``, LlamaIndex ``ThinkingBlock``).

One state machine, :class:`ThinkSplitter`, does the splitting for streams (fed fragment by
fragment, tags split across chunks included) and for whole answers (:func:`split_think` feeds it the
whole text), so a streamed answer and the same answer in one piece split the same way. Only an
answer that *opens* with ``<think>`` (after whitespace) is split; anything else passes through.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from hfbridge.wire.chat import ChatChoice, ChatCompletion

OPEN: Final = "<think>"
CLOSE: Final = "</think>"

INLINE_THINKERS: tuple[str, ...] = (
    "deepseek-r1",  # DeepSeek-R1, -0528, and the R1 distills
    "r1-distill",
    "qwq",
    "qwen3",
    "-thinking",
    "phi-4-reasoning",
    "exaone-deep",
    "openthinker",
)
"""Fragments of model names (lower case) whose models write their reasoning inline."""


def thinks_inline(*models: str | None) -> bool:
    """Whether any of the model names belongs to a family that writes ``<think>`` inline."""
    return any(
        fragment in model.lower() for model in models if model for fragment in INLINE_THINKERS
    )


_START, _THINK_START, _THINK, _ANSWER_START, _ANSWER = range(5)


def _held_back(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that could be the start of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


class ThinkSplitter:
    """Feed content fragments; get back ``(reasoning, content)`` safe to hand out now.

    Text that could still turn out to be part of a tag is held back until the next fragment
    decides; :meth:`flush` releases it at the end. Whitespace right after ``<think>`` and right
    after ``</think>`` is dropped (servers that split reasoning themselves send neither).
    """

    __slots__ = ("_buffer", "_state")

    def __init__(self) -> None:
        self._state = _START
        self._buffer = ""

    def feed(self, text: str) -> tuple[str, str]:
        """Take the next fragment of content."""
        if self._state == _ANSWER:
            return "", text
        buffer = self._buffer + text
        reasoning = content = ""
        while True:
            state = self._state
            if state == _START:
                stripped = buffer.lstrip()
                if stripped.startswith(OPEN):
                    buffer, self._state = stripped[len(OPEN) :], _THINK_START
                    continue
                if OPEN.startswith(stripped):  # empty, or a start of "<think>": undecided
                    break
                content, buffer, self._state = buffer, "", _ANSWER
                break
            if state in (_THINK_START, _ANSWER_START):
                buffer = buffer.lstrip()
                if not buffer:
                    break
                self._state = _THINK if state == _THINK_START else _ANSWER
                continue
            if state == _THINK:
                end = buffer.find(CLOSE)
                if end >= 0:
                    reasoning += buffer[:end]
                    buffer, self._state = buffer[end + len(CLOSE) :], _ANSWER_START
                    continue
                keep = _held_back(buffer, CLOSE)
                cut = len(buffer) - keep
                reasoning, buffer = reasoning + buffer[:cut], buffer[cut:]
                break
            content, buffer = content + buffer, ""  # _ANSWER
            break
        self._buffer = buffer
        return reasoning, content

    def flush(self) -> tuple[str, str]:
        """At the end of the answer: what was held back (unterminated reasoning stays reasoning)."""
        buffer, self._buffer = self._buffer, ""
        if self._state == _START:
            return "", buffer
        if self._state == _THINK:
            return buffer, ""
        return "", ""


def split_think(text: str) -> tuple[str, str]:
    """``(reasoning, content)`` of a whole answer (``("", text)`` unless it opens thinking)."""
    splitter = ThinkSplitter()
    reasoning, content = splitter.feed(text)
    tail_reasoning, tail_content = splitter.flush()
    return reasoning + tail_reasoning, content + tail_content


def split_completion(completion: ChatCompletion) -> ChatCompletion:
    """``completion`` with inline reasoning moved from each choice's content to its reasoning."""
    return replace(completion, choices=tuple(map(_split_choice, completion.choices)))


def _split_choice(choice: ChatChoice) -> ChatChoice:
    if not choice.content:
        return choice
    reasoning, content = split_think(choice.content)
    if not reasoning and content == choice.content:
        return choice
    joined = (choice.reasoning or "") + reasoning
    return replace(choice, content=content, reasoning=joined or None)
