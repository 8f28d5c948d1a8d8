"""The stream end rules: when a body that stops without [DONE] is a complete stream."""

from __future__ import annotations

import json
from functools import reduce
from typing import Any

import pytest

from hfbridge.wire.stream_end import CHOICES_FINISHED, FINAL_EVENT


def fold(rule: Any, events: list[Any]) -> bool:
    return rule.finished(reduce(rule.step, events, rule.start))


def chunk(index: int = 0, finish: str | None = None, content: str = "x") -> dict[str, Any]:
    return {"choices": [{"index": index, "delta": {"content": content}, "finish_reason": finish}]}


USAGE = {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


@pytest.mark.parametrize(
    ("events", "complete"),
    [
        ([], False),  # nothing at all
        ([chunk(), chunk()], False),  # text, then the body stops: cut
        ([chunk(), chunk(finish="stop")], True),  # finish chunk, then EOF (cerebras, TGI 2)
        ([chunk(), chunk(finish="stop"), USAGE], True),  # usage after the finish
        ([chunk(), USAGE], False),  # usage alone does not finish an answer
        ([chunk(finish="length")], True),
        ([chunk(0), chunk(1), chunk(0, "stop")], False),  # n=2: choice 1 never finished
        ([chunk(0), chunk(1), chunk(0, "stop"), chunk(1, "stop")], True),
        ([{"choices": [chunk(0)["choices"][0], chunk(1, "stop")["choices"][0]]}], False),
        ([chunk(finish="stop"), chunk()], True),  # a chunk after the finish changes nothing
        ([{"choices": "not a list"}, "text", None, chunk(finish="eos")], True),  # odd events
        ([{"choices": [{"index": "0", "finish_reason": "stop"}]}], True),  # odd index: choice 0
    ],
)
def test_choices_finished(events, complete):
    assert fold(CHOICES_FINISHED, events) is complete


def test_the_common_chunk_keeps_the_same_state_object():
    state = CHOICES_FINISHED.step(CHOICES_FINISHED.start, chunk())
    assert CHOICES_FINISHED.step(state, chunk()) is state  # no allocation per token


@pytest.mark.parametrize(
    ("events", "complete"),
    [
        ([], False),
        ([{"token": {"text": "a"}, "generated_text": None}], False),
        ([{"token": {"text": "a"}, "generated_text": None},
          {"token": {"text": "b"}, "generated_text": "ab", "details": None}], True),
        ([{"token": {"text": "a"}, "generated_text": "a"}, {"token": {"text": "b"}}], True),
    ],
)  # fmt: skip
def test_final_event_seen(events, complete):
    assert fold(FINAL_EVENT, events) is complete


def test_the_rules_are_values_with_a_name_and_what_they_wait_for():
    assert (CHOICES_FINISHED.name, FINAL_EVENT.name) == ("choices-finished", "final-event")
    assert "finish_reason" in CHOICES_FINISHED.expects
    assert "generated_text" in FINAL_EVENT.expects
    json.dumps([CHOICES_FINISHED.name, CHOICES_FINISHED.expects])  # plain data


@pytest.mark.parametrize(
    ("types", "complete"),
    [
        ([], False),
        (["response.created", "response.output_text.delta"], False),
        (["response.created", "response.output_text.delta", "response.completed"], True),
        (["response.created", "response.incomplete"], True),
    ],
)
def test_terminal_event_seen(types, complete):
    from hfbridge.wire.stream_end import TERMINAL_EVENT

    assert fold(TERMINAL_EVENT, [{"type": kind} for kind in types]) is complete
