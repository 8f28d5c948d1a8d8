"""Parsing the catalog bodies: missing fields, extra fields, wrong types, unknown providers."""

from hfbridge.catalog.models import (
    parse_hub_model,
    parse_hub_models,
    parse_router_model,
    parse_router_models,
)


def by_id(body):
    return {model.id: model for model in parse_router_models(body)}


def test_documented_entry_parses_fully(body):
    model = by_id(body("router_models.json"))["deepseek-ai/DeepSeek-V4-Pro"]
    assert model.architecture.input_modalities == ["text"]
    together = model.provider("together")
    assert (together.status, together.context_length) == ("live", 512000)
    assert (together.pricing.input, together.pricing.output) == (2.1, 4.4)
    assert together.supports_tools is True
    assert together.supports_structured_output is True
    assert together.is_model_author is False
    assert together.first_token_latency_ms == 611
    assert round(together.throughput, 2) == 40.13


def test_missing_fields_are_none(body):
    model = by_id(body("router_models.json"))["deepseek-ai/DeepSeek-V4-Pro"]
    featherless = model.provider("featherless-ai")
    assert featherless.is_live
    assert (featherless.context_length, featherless.pricing, featherless.supports_tools) == (
        None,
        None,
        None,
    )
    fireworks = model.provider("fireworks-ai")
    assert fireworks.pricing is None
    assert fireworks.context_length == 1048576


def test_unknown_provider_extra_fields_and_wrong_types(body):
    model = by_id(body("router_models.json"))["acme/Widget-13B-Chat"]
    assert model.architecture is None
    assert model.created is None
    assert model.model_extra == {"object": "model", "license": "apache-2.0"}
    acme = model.provider("acme-cloud")
    assert acme.context_length == 65536  # "65536" coerced
    assert (acme.pricing.input, acme.pricing.output) == (0.2, 0.4)
    assert acme.supports_structured_output is None  # "sometimes" is not a bool
    assert acme.throughput is None  # "fast" is not a number
    assert acme.model_extra == {"region": "eu-west", "latency_p99_ms": 1234}
    # The entry without "provider" and the non-object entry are dropped, the rest kept.
    assert [p.provider for p in model.providers] == ["acme-cloud", "novita"]
    assert model.provider("novita").status == "staging"
    assert not model.provider("novita").is_live
    assert model.provider("novita").is_free is True


def test_live_providers_keep_catalogue_order(body):
    model = by_id(body("router_models.json"))["meta-llama/Llama-3.1-8B-Instruct"]
    assert [p.provider for p in model.live_providers] == [
        "cerebras",
        "novita",
        "nscale",
        "featherless-ai",
    ]


def test_envelopes_and_garbage():
    assert parse_router_models({"object": "list"}) == []
    assert parse_router_models("nonsense") == []
    assert [m.id for m in parse_router_models([{"id": "a/b"}, {"id": 3}, None])] == ["a/b"]
    assert parse_router_model({"data": {"id": "a/b", "providers": "x"}}, "a/b").providers == []
    assert parse_router_model({"data": [{"id": "c/d"}, {"id": "a/b"}]}, "a/b").id == "a/b"
    assert parse_router_model({"id": "other/model"}, "a/b") is None
    assert parse_hub_models({"error": "x"}) == []
    assert parse_hub_model(["not", "an", "object"]) is None


def test_hub_mapping_both_shapes(body):
    as_dict = parse_hub_model(body("hub_model_gemma-3-27b-it.json"))
    assert as_dict.status == "warm"
    assert as_dict.mongo_id == "67c35b9bb236f0d365bf29d3"
    assert [m.provider for m in as_dict.inference_provider_mapping] == [
        "featherless-ai",
        "scaleway",
        "nebius",
    ]
    as_list = parse_hub_models(body("hub_models_page1.json")["body"])
    assert [m.provider for m in as_list[0].inference_provider_mapping] == [
        "cerebras",
        "novita",
        "nscale",
    ]
    cold = parse_hub_model(body("hub_model_SpatialLM-Llama-1B.json"))
    assert (cold.status, cold.inference_provider_mapping) == ("cold", [])


def test_a_200_model_list_parses(body):
    template = body("router_models.json")["data"][:8]
    big = {"data": [dict(model, id=f"{model['id']}-{i}") for i in range(25) for model in template]}
    models = parse_router_models(big)
    assert len(models) == 200
    assert sum(len(model.providers) for model in models) == 25 * sum(
        len(m["providers"]) for m in template
    )
