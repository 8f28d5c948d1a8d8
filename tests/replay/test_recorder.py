"""``make record`` and ``make test-live`` against a loopback stand-in for the router.

The stand-in (tests/replay/standin.py) plants what a recording must never keep: the token echoed in
a header and a body, a cookie, the account's and its organization's names. The recorder's output
must hold none of it, and must replay through the adapters like the public recordings do.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.replay.adapters import CALLS, MODES
from tests.replay.harness import Gateway, Setup, script
from tests.replay.standin import ACCOUNT, CHAT_MODEL, ORG, REASONING_MODEL, TOKEN, standin
from tests.replay.test_replay import check_answer, check_error

pytestmark = pytest.mark.enable_socket  # the stand-in listens on 127.0.0.1 only


REFUSED = "live_deepseek-ai-deepseek-r1_together_chat_stream"
"""The stand-in streams its account name split across two events: no event can be scrubbed."""


@pytest.fixture(scope="module")
def run() -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix="hfbridge-recordings-"))
    errors = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, standin() as url, redirect_stderr(errors):
        patch.setenv("HF_TOKEN", TOKEN)
        patch.setenv("HFBRIDGE_ROUTER_URL", url)
        patch.setenv("HF_ENDPOINT", url)
        code = script("record").main(
            ["--models", CHAT_MODEL, "--reasoning-model", REASONING_MODEL, "--out", str(out)]
        )
    recordings = [json.loads(path.read_text("utf-8")) for path in sorted(out.glob("*.json"))]
    shutil.rmtree(out)
    return {"code": code, "stderr": errors.getvalue(), "recordings": recordings}


@pytest.fixture
def recorded(run: dict[str, Any]) -> list[dict[str, Any]]:
    return run["recordings"]


def test_a_recording_that_would_leak_is_refused_and_reported(run):
    assert run["code"] == 1
    assert REFUSED in run["stderr"]
    assert REFUSED not in {recording["name"] for recording in run["recordings"]}


def test_the_matrix_covers_every_kind(recorded):
    names = {recording["name"] for recording in recorded}
    stem = "live_standin-org-chat-model_nebius"
    assert {f"{stem}_{kind}" for kind in
            ("chat", "chat_stream", "tools", "tools_stream", "structured")} <= names  # fmt: skip
    assert not any("broken-provider" in name for name in names)  # not live: not asked
    assert "live_deepseek-ai-deepseek-r1_together_chat" in names
    statuses = {r["name"]: r["response"]["status"] for r in recorded if r["name"].startswith(
        "live_error")}  # fmt: skip
    assert sorted(statuses.values()) == [400, 401, 404, 422]
    assert any(r["kind"] == "embeddings-feature" for r in recorded)


def test_no_recording_keeps_the_token_cookies_or_account_names(recorded):
    corpus = script("replay_corpus")
    for recording in recorded:
        text = json.dumps(recording)
        assert TOKEN not in text
        assert "planted-cookie" not in text
        assert ACCOUNT not in text
        assert ORG not in text
        assert corpus.leaks(recording, secrets=[TOKEN], accounts=[ACCOUNT, ORG]) == []
        assert "headers" not in recording["request"]
        echoed = dict(recording["response"]["headers"]).get("x-echo-authorization")
        assert echoed in (None, "Bearer ***")
        assert recording["source"]["recorded_by"] == "scripts/record.py"


def test_the_oracle_reads_what_the_stand_in_said(recorded):
    by_name = {recording["name"]: recording["expect"] for recording in recorded}
    stem = "live_standin-org-chat-model_nebius"
    assert by_name[f"{stem}_chat"]["text"] == "Sunny."
    assert by_name[f"{stem}_chat_stream"]["usage"] == [12, 3, 15]
    assert by_name[f"{stem}_tools_stream"]["tool_calls"][0]["arguments"] == {"city": "Paris"}
    reasoning = by_name["live_deepseek-ai-deepseek-r1_together_chat"]
    assert (reasoning["reasoning"], reasoning["text"]) == ("The user is <account>.\n", "Sunny.")
    assert by_name["live_error_401_invalid_token"]["error"]["class"] == "HFAuthenticationError"


@pytest.mark.usefixtures("router_env")
def test_recordings_replay_through_every_adapter(recorded):
    for recording in recorded:
        for path in ("base_url", "router"):
            for call in CALLS[recording["kind"]]:
                for mode in MODES[recording["kind"]]:
                    setup = Setup(recording, path, Gateway(recording))
                    outcome = call(setup, mode)
                    where = f"{recording['name']} {path} {call.__name__} {mode}"
                    if recording["expect"]["outcome"] == "error":
                        check_error(outcome, recording["expect"], path)
                    else:
                        assert outcome.error is None, (where, outcome.error)
                        check_answer(outcome, recording["expect"], setup, call.__name__)


def test_no_token_no_recording(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert script("record").main(["--out", str(tmp_path)]) == 2
    assert "HF_TOKEN" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_recording_that_still_leaks_is_never_written(tmp_path):
    corpus = script("replay_corpus")
    leaky = {"name": "x", "request": {"method": "POST", "url": "u", "body": ""},
             "response": {"status": 200, "headers": [["set-cookie", "a=b"]],
                          "body": "token hf_abcdefghijklmnop"}}  # fmt: skip
    assert set(corpus.leaks(leaky)) == {"an hf_ token", "header set-cookie"}
    clean = corpus.sanitize_recording(leaky, secrets=["s3cr3t-value"], accounts=["bob"])
    assert corpus.leaks(clean) == []
    assert clean["source"]["sanitized"] == ["body scrubbed", "set-cookie dropped"]


# --- make test-live ---------------------------------------------------------------------------


def test_test_live_aims_the_integration_suites_at_the_router():
    live = script("live")
    with standin() as url, httpx.Client() as http:
        variables = live.live_env({"HF_TOKEN": TOKEN, "HFBRIDGE_ROUTER_URL": url}, http)
    assert variables == {
        "HFBRIDGE_TEST_CHAT_URL": f"{url}/v1",
        "HFBRIDGE_TEST_CHAT_MODEL": f"{CHAT_MODEL}:nebius",  # tools and structured output, live
        "HFBRIDGE_TEST_EMBED_URL": f"{url}/together/v1",
        "HFBRIDGE_TEST_EMBED_MODEL": live.EMBED_MODEL,
    }


def test_test_live_needs_a_token_and_honours_overrides():
    live = script("live")
    with pytest.raises(live.LiveError, match="HF_TOKEN"):
        live.live_env({})
    variables = live.live_env({"HF_TOKEN": TOKEN, "HFBRIDGE_LIVE_CHAT_MODEL": "org/m:groq",
                               "HFBRIDGE_LIVE_EMBED_URL": "https://e/v1",
                               "HFBRIDGE_LIVE_EMBED_MODEL": "e5"})  # fmt: skip
    assert variables["HFBRIDGE_TEST_CHAT_URL"] == "https://router.huggingface.co/v1"
    assert (variables["HFBRIDGE_TEST_CHAT_MODEL"], variables["HFBRIDGE_TEST_EMBED_MODEL"]) == (
        "org/m:groq", "e5"
    )
