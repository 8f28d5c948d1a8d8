"""Every recorded exchange of the corpus, replayed through every adapter that makes that request.

Each recording is served on two paths (a self-hosted ``base_url``, and the router moved to a
gateway by ``HFBRIDGE_ROUTER_URL``) to ChatHF, HFLLM, HFTextGen, HFEmbeddings and HFEmbedding in
every mode that matches it (sync, async, stream, async stream). What the adapter reports must be
what the recording says (``expect``, the oracle's reading): the text, reasoning, finish reason
(and the server's own word for it), usage, tool calls, request id, provider and cost on the
router; or the error class and message.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.replay.adapters import CALLS, MODES
from tests.replay.harness import (
    PRICE_IN,
    PRICE_OUT,
    TOKEN,
    Gateway,
    Outcome,
    Setup,
    load_recordings,
)

import hfbridge.errors
from hfbridge.errors import HFStreamError

RECORDINGS = load_recordings()
CASES = [
    pytest.param(recording, path, call, mode,
                 id=f"{recording['name']}-{path}-{call.__name__}-{mode}")
    for recording in RECORDINGS
    for path in ("base_url", "router")
    for call in CALLS[recording["kind"]]
    for mode in MODES[recording["kind"]]
]  # fmt: skip


def _expected_provider(setup: Setup, call_name: str) -> str | None:
    if setup.path != "router":
        return None
    if call_name == "text_gen" and not setup.recording["kind"].startswith("chat"):
        return "hf-inference"  # the router's hf-inference task routes
    return setup.recording["provider"] if setup.pinned else None


def _expected_cost(setup: Setup, expect: dict[str, Any]) -> float | None:
    usage = expect.get("usage")
    if not setup.pinned or usage is None:
        return None
    return (usage[0] * PRICE_IN + usage[1] * PRICE_OUT) / 1_000_000


def check_error(outcome: Outcome, expect: dict[str, Any], path: str | None = None) -> None:
    error = outcome.error
    wanted = expect["error"]
    assert error is not None, f"expected {wanted['class']}, the call returned {outcome}"
    cls = getattr(hfbridge.errors, wanted["class"])
    assert isinstance(error, cls), repr(error)
    message = str(error)
    for fragment in wanted.get("message", []):
        assert fragment in message
    assert "Bearer ***" not in message  # advice the redactor mangled
    own_server_advice = getattr(cls, "hint_self_hosted", None)
    if own_server_advice and path is not None:  # the router's advice on the router, else the server's
        assert (own_server_advice in message) is (path == "base_url")
    if "status" in wanted:
        assert error.status_code == wanted["status"]  # type: ignore[attr-defined]
    if expect.get("request_id"):
        assert error.request_id == expect["request_id"]  # type: ignore[attr-defined]


def check_answer(outcome: Outcome, expect: dict[str, Any], setup: Setup, call: str) -> None:
    assert outcome.error is None, repr(outcome.error)
    wanted: dict[str, Any] = {
        "text": expect.get("text"),
        "reasoning": expect.get("reasoning"),
        "finish_reason": expect.get("finish_reason"),
        "native_finish_reason": expect.get("native_finish_reason"),
        "usage": expect.get("usage"),
        "tool_calls": expect.get("tool_calls", []),
        "request_id": expect.get("request_id"),
        "provider": _expected_provider(setup, call),
        "cost": _expected_cost(setup, expect),
    }
    for name in sorted(outcome.exposes - {"vectors"}):
        got = getattr(outcome, name)
        if name == "cost" and got is not None and wanted["cost"] is not None:
            assert got == pytest.approx(wanted["cost"]), name
        else:
            assert got == wanted[name], name
    if "vectors" in outcome.exposes:
        vectors = outcome.vectors or []
        assert len(vectors) == expect["vectors"]["count"]
        assert {len(vector) for vector in vectors} == {expect["vectors"]["dim"]}


@pytest.mark.usefixtures("router_env")
@pytest.mark.parametrize(("recording", "path", "call", "mode"), CASES)
def test_replay(recording: dict[str, Any], path: str, call: Any, mode: str) -> None:
    gateway = Gateway(recording)
    setup = Setup(recording, path, gateway)
    outcome = call(setup, mode)
    expect = recording["expect"]
    if expect["outcome"] == "error":
        check_error(outcome, expect, path)
    elif expect["outcome"] == "cut":
        assert isinstance(outcome.error, HFStreamError), repr(outcome.error)
    else:
        check_answer(outcome, expect, setup, call.__name__)
    # The token found in the environment goes to the router's gateway, never to a self-hosted URL.
    sent = [r.headers.get("authorization") for r in gateway.inference_requests()]
    assert sent, "the recorded answer was never asked for"
    assert set(sent) == ({f"Bearer {TOKEN}"} if path == "router" else {None})
