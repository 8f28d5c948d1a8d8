"""ChatHF.refresh_profile() against the real llama-server, and the agents that read it.

``create_agent(model, tools, response_format=Schema)`` uses the provider's native structured output
exactly when ``profile["structured_output"]`` is true (llama.cpp: grammar-constrained
``response_format``), and ``SummarizationMiddleware`` with a fractional trigger needs
``profile["max_input_tokens"]`` (the server's ``n_ctx``). Structure, not wording (a 0.5B model).
"""

import pytest
from langchain.agents import create_agent
from langchain.agents.factory import _supports_provider_strategy
from langchain.agents.middleware import SummarizationMiddleware
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from hfbridge.errors import HFCapabilityError
from hfbridge.inference import server_facts
from hfbridge.langchain import ChatHF
from hfbridge.llama_index import HFLLM


class Capital(BaseModel):
    city: str
    country: str


@tool
def get_population(city: str) -> str:
    """Population of a city."""
    return f"{city}: about 2 million"


@pytest.fixture
def model(chat_url, chat_model):
    server_facts.forget()
    chat = ChatHF(model=chat_model, base_url=chat_url, temperature=0, max_tokens=96, timeout=120)
    yield chat
    server_facts.forget()


def test_the_profile_comes_from_the_server(model, chat_url, chat_model):
    assert model.profile == {"text_inputs": True, "text_outputs": True}  # nothing asked yet
    profile = model.refresh_profile()
    assert profile["max_input_tokens"] == 4096  # realserver.py runs -c 4096 (n_ctx, per slot)
    assert profile["structured_output"] is True
    assert profile["tool_calling"] is True
    assert profile["image_inputs"] is False
    llm = HFLLM(model=chat_model, base_url=chat_url)
    assert llm.metadata.context_window == profile["max_input_tokens"]


def test_create_agent_uses_native_structured_output_and_returns_the_schema(model):
    model.refresh_profile()
    assert _supports_provider_strategy(model, [get_population])
    agent = create_agent(model, [], response_format=Capital)
    state = agent.invoke({"messages": [("user", "The capital of France, as JSON.")]})
    assert isinstance(state["structured_response"], Capital)


def test_summarization_with_a_fractional_trigger_works(model):
    model.refresh_profile()
    middleware = SummarizationMiddleware(model=model, trigger=("fraction", 0.5))
    agent = create_agent(model, [], middleware=[middleware])
    state = agent.invoke({"messages": [("user", "Say hello.")]})
    assert state["messages"][-1].content


def test_token_counts_come_from_the_server_and_match_the_call(model):
    messages = [SystemMessage("You are a terse assistant."), HumanMessage("Say hello in French.")]
    counted = model.get_num_tokens_from_messages(messages)
    answer = model.invoke(messages, max_tokens=4)
    assert counted == answer.usage_metadata["input_tokens"]
    assert model.get_num_tokens("Hello, world!") == 4  # Qwen2.5: Hello , world !
    ids = model.get_token_ids("Hello, world!")  # the server's tokenizer, not GPT-2's
    assert len(ids) == 4
    assert ids == [9707, 11, 1879, 0]  # Qwen2.5's ids (GPT-2's: 15496, 11, 995, 0)


def test_an_image_to_the_text_only_server_fails_before_sending(model):
    image = HumanMessage(content=[
        {"type": "text", "text": "What colour is this?"},
        {"type": "image", "base64": "iVBORw0KGgo=", "mime_type": "image/png"},
    ])  # fmt: skip
    with pytest.raises(HFCapabilityError, match="no vision projector"):
        model.invoke([image])
