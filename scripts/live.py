#!/usr/bin/env python3
"""Aim the integration suites at the live router instead of the local servers (make test-live).

``python3 scripts/live.py env`` prints the ``HFBRIDGE_TEST_*`` exports the integration suites read
(the same ones ``scripts/realserver.py start`` prints for the local servers), aimed at the router
(``HFBRIDGE_ROUTER_URL`` when set): the chat suites get a model pinned to a live provider that
calls tools and writes structured output (from the router's ``/v1/models``; or
``HFBRIDGE_LIVE_CHAT_MODEL``), the embeddings suites an OpenAI-style provider route
(``HFBRIDGE_LIVE_EMBED_URL`` / ``HFBRIDGE_LIVE_EMBED_MODEL``). Needs ``HF_TOKEN``.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from typing import Any

import httpx

DEFAULT_ROUTER = "https://router.huggingface.co"
PREFERRED_CHAT = ("Qwen/Qwen2.5-72B-Instruct", "meta-llama/Llama-3.3-70B-Instruct",
                  "meta-llama/Llama-3.1-8B-Instruct")  # fmt: skip
EMBED_PROVIDER = "together"
EMBED_MODEL = "intfloat/multilingual-e5-large-instruct"


class LiveError(RuntimeError):
    """The live router cannot be used (no token, no usable model)."""


def _capable(entry: Mapping[str, Any]) -> str | None:
    """The first live provider of a catalog entry that calls tools and writes structured output."""
    for provider in entry.get("providers") or []:
        if (
            isinstance(provider, dict)
            and provider.get("status") == "live"
            and provider.get("supports_tools")
            and provider.get("supports_structured_output")
        ):
            return str(provider.get("provider"))
    return None


def pick_chat_model(catalog: list[Any], preferred: tuple[str, ...] = PREFERRED_CHAT) -> str:
    """``model:provider`` for the chat suites: a preferred model first, else any capable one."""
    entries = [entry for entry in catalog if isinstance(entry, dict) and entry.get("id")]
    ranked = sorted(entries, key=lambda e: (e["id"] not in preferred, preferred.index(e["id"])
                                            if e["id"] in preferred else 0))  # fmt: skip
    for entry in ranked:
        provider = _capable(entry)
        if provider:
            return f"{entry['id']}:{provider}"
    raise LiveError(
        "no model in the router's catalog has a live provider with tools and structured output: "
        "set HFBRIDGE_LIVE_CHAT_MODEL=org/name:provider"
    )


def live_env(environ: Mapping[str, str], http: httpx.Client | None = None) -> dict[str, str]:
    """The ``HFBRIDGE_TEST_*`` variables that aim the integration suites at the router."""
    token = (environ.get("HF_TOKEN") or "").strip()
    if not token:
        raise LiveError("make test-live needs HF_TOKEN (allowed to call Inference Providers)")
    router = (environ.get("HFBRIDGE_ROUTER_URL") or DEFAULT_ROUTER).rstrip("/")
    chat_model = environ.get("HFBRIDGE_LIVE_CHAT_MODEL")
    if not chat_model:
        client = http or httpx.Client(timeout=30)
        try:
            answer = client.get(f"{router}/v1/models",
                                headers={"authorization": f"Bearer {token}"})  # fmt: skip
            answer.raise_for_status()
            chat_model = pick_chat_model(answer.json().get("data") or [])
        finally:
            if http is None:
                client.close()
    return {
        "HFBRIDGE_TEST_CHAT_URL": f"{router}/v1",
        "HFBRIDGE_TEST_CHAT_MODEL": chat_model,
        "HFBRIDGE_TEST_EMBED_URL": environ.get("HFBRIDGE_LIVE_EMBED_URL")
        or f"{router}/{EMBED_PROVIDER}/v1",
        "HFBRIDGE_TEST_EMBED_MODEL": environ.get("HFBRIDGE_LIVE_EMBED_MODEL") or EMBED_MODEL,
    }


def main(argv: list[str]) -> int:
    """``live.py env``: print the exports (for ``eval``)."""
    if argv[1:] != ["env"]:
        print("usage: live.py env", file=sys.stderr)
        return 2
    try:
        variables = live_env(os.environ)
    except (LiveError, httpx.HTTPError) as exc:
        print(f"test-live: {exc}", file=sys.stderr)
        return 1
    for name, value in variables.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
