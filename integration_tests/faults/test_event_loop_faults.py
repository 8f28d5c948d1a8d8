"""The event loop on real sockets (issue 17): large async bodies, and a catalog given one client."""

from __future__ import annotations

import asyncio
import gc

import pytest
from faultserver import json_reply
from support import ANSWER, CHAT_PATH, chat_service, healthy_chat

from hfbridge.catalog import Catalog, acapabilities
from hfbridge.langchain import ChatHF
from hfbridge.transport import HFClient

PROMPT = "x" * (2 * 1024 * 1024)  # 2 MiB: above aiohttp's 1 MiB "large body" threshold


@pytest.mark.filterwarnings("error")  # a ResourceWarning is fatal, as under python -W error
@pytest.mark.parametrize("through", ["service", "ChatHF"])
def test_a_2_mib_prompt_on_the_async_path_raises_no_resource_warning(fault_server, through):
    fault_server.route(CHAT_PATH, healthy_chat)
    base = fault_server.url + "/v1"

    async def call() -> str:
        if through == "service":
            result = await chat_service(base).acomplete([{"role": "user", "content": PROMPT}], {})
            return result.completion.first.content or ""
        message = await ChatHF(model="m", base_url=base).ainvoke(PROMPT)
        return str(message.content)

    assert asyncio.run(call()) == ANSWER
    gc.collect()  # a ResourceWarning from a finaliser surfaces here
    (request,) = fault_server.requests_to(CHAT_PATH)
    assert len(request.body) > 2 * 1024 * 1024


def test_a_catalog_given_only_a_sync_client_answers_async_questions(fault_server):
    entry = {"id": "org/m", "providers": [{"provider": "prova", "status": "live",
                                           "supports_tools": True}]}  # fmt: skip
    fault_server.route("/v1/models/org/m", lambda _: json_reply(200, entry))
    client = HFClient(base_url=fault_server.url + "/v1", token="hf_oneClientToken0123456789")
    catalog = Catalog(client, router_url=fault_server.url + "/v1", cache_dir=False)

    caps = asyncio.run(acapabilities("org/m", catalog=catalog))

    assert caps.known is True  # not "unreachable": the async client was built from the sync one
    assert caps.supports_tools is True
    assert fault_server.requests_to("/v1/models/org/m")[0].headers["authorization"].startswith(
        "Bearer hf_oneClient"
    )
