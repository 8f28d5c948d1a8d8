"""capabilities(): what a model and its pinned provider can do; never raises, warns once."""

import warnings

import pytest

from hfbridge.catalog import (
    AliasWarning,
    CatalogUnavailableWarning,
    ModelSpec,
    acapabilities,
    capabilities,
    parse_model_spec,
    resolve_model,
)


def caps_of(text, catalog):
    return capabilities(parse_model_spec(text), catalog=catalog)


def test_unpinned_helpers_look_at_live_providers(catalog):
    caps = caps_of("meta-llama/Llama-3.1-8B-Instruct", catalog)
    assert caps.known
    assert caps.available
    assert [p.provider for p in caps.providers] == [
        "cerebras",
        "novita",
        "nscale",
        "featherless-ai",
        "sambanova",
    ]
    assert [p.provider for p in caps.live_providers] == [
        "cerebras",
        "novita",
        "nscale",
        "featherless-ai",
    ]
    assert caps.context_length == 131072  # the largest live one
    assert caps.supports_tools is True
    assert caps.supports_structured_output is True
    assert caps.supports_images is False


def test_pinned_helpers_look_at_that_provider(catalog):
    caps = caps_of("meta-llama/Llama-3.1-8B-Instruct:novita", catalog)
    assert caps.provider == "novita"
    assert (caps.context_length, caps.supports_tools, caps.supports_structured_output) == (
        16384,
        False,
        False,
    )
    unknown = caps_of("deepseek-ai/DeepSeek-V4-Pro:featherless-ai", catalog)
    assert (unknown.context_length, unknown.supports_tools, unknown.supports_structured_output) == (
        None,
        None,
        None,
    )
    unlisted = caps_of("deepseek-ai/DeepSeek-V4-Pro:groq", catalog)
    assert unlisted.pinned is None
    assert unlisted.supports_tools is None


def test_provider_rows_carry_prices_and_metrics(catalog):
    row = caps_of("openai/gpt-oss-120b", catalog).provider_info("groq")
    assert (row.input_price, row.output_price, row.first_token_latency_ms, row.throughput) == (
        0.15,
        0.6,
        205.9,
        472.0,
    )
    assert row.is_live
    assert row.is_model_author is False


@pytest.mark.parametrize(
    ("model", "tools", "structured"),
    [
        ("google/gemma-2-2b-it", False, None),  # both say no to tools; one is silent on schemas
        ("Qwen/Qwen2.5-7B-Instruct", True, True),
        ("CohereLabs/c4ai-command-r-plus", False, False),  # no live provider at all
        ("acme/Widget-13B-Chat", True, None),  # one says yes to tools, structured unknown
    ],
)
def test_any_live_provider_tri_state(catalog, model, tools, structured):
    caps = caps_of(model, catalog)
    assert (caps.supports_tools, caps.supports_structured_output) == (tools, structured)


def test_images_from_architecture(catalog):
    assert caps_of("meta-llama/Llama-4-Scout-17B-16E-Instruct", catalog).supports_images is True


def test_a_model_the_router_does_not_list_is_unknown_but_available(catalog):
    caps = caps_of("nobody/unknown-model", catalog)
    assert (caps.known, caps.available, caps.providers) == (False, True, [])
    assert (caps.supports_tools, caps.context_length, caps.supports_images) == (None, None, None)


def test_catalog_down_returns_unknowns_and_warns_exactly_once(catalog, fake):
    fake.down = True
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")  # duplicates would show: "once" is hfbridge's doing
        caps = caps_of("openai/gpt-oss-120b", catalog)
        again = caps_of("meta-llama/Llama-3.1-8B-Instruct:cerebras", catalog)
    assert [w.category for w in record] == [CatalogUnavailableWarning]
    assert "unreachable" in str(record[0].message)
    assert "hf_test" not in str(record[0].message)
    assert (caps.known, caps.available, caps.supports_tools) == (False, False, None)
    assert (again.supports_tools, again.context_length) == (None, None)
    assert "unreachable" in caps.note


def test_non_http_failures_are_contained_too(catalog, fake):
    fake.crash = True
    with pytest.warns(CatalogUnavailableWarning, match="RuntimeError"):
        assert caps_of("openai/gpt-oss-120b", catalog).known is False


def test_offline_without_cache_is_silent(fake, new_catalog):
    catalog = new_catalog(fake, offline=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        caps = caps_of("openai/gpt-oss-120b", catalog)
    assert caps.known is False
    assert "offline" in caps.note
    assert fake.requests == []


def test_cached_answers_need_no_request(catalog, fake):
    for _ in range(100):
        caps_of("openai/gpt-oss-120b:groq", catalog)
        caps_of("openai/gpt-oss-120b", catalog)
    assert len(fake.requests) == 1


async def test_async_capabilities(catalog, fake):
    caps = await acapabilities(parse_model_spec("openai/gpt-oss-120b:cerebras"), catalog=catalog)
    assert caps.supports_tools is True
    assert caps.context_length == 131072
    fake.down = True
    with pytest.warns(CatalogUnavailableWarning):
        assert (await acapabilities("nobody/x", catalog=catalog)).available is False


def test_an_alias_pointing_at_an_unserved_model_warns_once(catalog):
    spec = resolve_model(
        "default", kind="chat", overrides={"default": "CohereLabs/c4ai-command-r-plus"}
    )
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        capabilities(spec, catalog=catalog)
        capabilities(spec, catalog=catalog)
    assert [w.category for w in record] == [AliasWarning]
    assert "alias 'default' points at 'CohereLabs/c4ai-command-r-plus'" in str(record[0].message)


def test_a_served_alias_does_not_warn(catalog):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        capabilities(ModelSpec("openai/gpt-oss-120b", alias="agent"), catalog=catalog)


def test_an_agent_alias_without_tools_warns(catalog):
    spec = resolve_model("agent", kind="chat", overrides={"agent": "google/gemma-2-2b-it"})
    with pytest.warns(AliasWarning, match="no live provider serves with tool calling"):
        caps = capabilities(spec, catalog=catalog)
    assert caps.supports_tools is False
