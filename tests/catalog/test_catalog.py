"""Catalog client: router and Hub endpoints, Link pagination, caching in memory and on disk."""

import warnings
from urllib.parse import parse_qs, urlsplit

import pytest

from hfbridge.catalog import CatalogUnavailableWarning
from hfbridge.catalog.cache import default_cache_dir
from hfbridge.errors import HFConfigError, HFConnectionError, HFServerError

# --- router ------------------------------------------------------------------------------------


def test_router_models_lists_every_model_with_an_id(catalog, fake):
    models = catalog.router_models()
    assert [m.id for m in models][:2] == [
        "deepseek-ai/DeepSeek-V4-Pro",
        "meta-llama/Llama-3.1-8B-Instruct",
    ]
    assert len(models) == 9  # the entry without an id is dropped
    assert fake.paths() == ["/v1/models"]
    assert fake.requests[0].headers["authorization"] == "Bearer hf_test"


def test_router_model_uses_the_single_model_route(catalog, fake):
    model = catalog.router_model("openai/gpt-oss-120b")
    assert model is not None
    assert [p.provider for p in model.providers][:2] == ["cerebras", "groq"]
    assert fake.paths() == ["/v1/models/openai/gpt-oss-120b"]


def test_router_model_accepts_a_suffixed_id_and_rejects_a_malformed_one(catalog, fake):
    assert catalog.router_model("openai/gpt-oss-120b:groq").id == "openai/gpt-oss-120b"
    with pytest.raises(HFConfigError):
        catalog.router_model("not a model")
    assert fake.paths() == ["/v1/models/openai/gpt-oss-120b"]


def test_router_model_404_is_checked_against_the_list_then_answered_from_it(catalog, fake):
    assert catalog.router_model("Qwen/Qwen2.5-7B-Instruct").id == "Qwen/Qwen2.5-7B-Instruct"
    assert fake.paths() == ["/v1/models/Qwen/Qwen2.5-7B-Instruct", "/v1/models"]
    # The list is now cached: other lookups, known or not, need no request.
    assert catalog.router_model("google/gemma-2-2b-it").id == "google/gemma-2-2b-it"
    assert catalog.router_model("nobody/unknown-model") is None
    assert len(fake.requests) == 2


async def test_async_router_methods_share_the_cache(catalog, fake):
    model = await catalog.arouter_model("openai/gpt-oss-120b")
    assert model.id == "openai/gpt-oss-120b"
    assert catalog.router_model("openai/gpt-oss-120b") == model
    assert len(await catalog.arouter_models()) == 9
    assert fake.paths() == ["/v1/models/openai/gpt-oss-120b", "/v1/models"]
    assert await catalog.arouter_model("nobody/unknown") is None
    assert len(fake.requests) == 2


# --- caching -----------------------------------------------------------------------------------


def test_second_call_does_not_hit_the_transport(catalog, fake):
    first = catalog.router_models()
    second = catalog.router_models()
    assert first == second
    assert fake.count("/v1/models") == 1


def test_refresh_refetches(catalog, fake):
    catalog.router_models()
    catalog.router_models(refresh=True)
    catalog.router_model("openai/gpt-oss-120b", refresh=True)
    assert fake.paths() == ["/v1/models", "/v1/models", "/v1/models/openai/gpt-oss-120b"]


def test_ttl_expiry_refetches(fake, clock, new_catalog):
    catalog = new_catalog(fake, clock=clock, ttl=60)
    catalog.router_models()
    clock.now += 59
    catalog.router_models()
    assert fake.count("/v1/models") == 1
    clock.now += 2
    catalog.router_models()
    assert fake.count("/v1/models") == 2


def test_a_fresh_catalog_reads_the_disk_cache(fake, clock, tmp_path, new_catalog):
    first = new_catalog(fake, clock=clock, cache_dir=tmp_path / "c")
    first.router_models()
    first.hub_model("google/gemma-3-27b-it")
    assert any((tmp_path / "c").iterdir())
    other = type(fake)()
    second = new_catalog(other, clock=clock, cache_dir=tmp_path / "c")
    assert [m.id for m in second.router_models()] == [m.id for m in first.router_models()]
    assert second.model_status("google/gemma-3-27b-it") == "warm"
    assert second.router_model("openai/gpt-oss-120b").id == "openai/gpt-oss-120b"
    assert other.requests == []


def test_the_disk_cache_expires_with_the_ttl(fake, clock, tmp_path, new_catalog):
    new_catalog(fake, clock=clock, cache_dir=tmp_path / "c", ttl=100).router_models()
    clock.now += 101
    other = type(fake)()
    new_catalog(other, clock=clock, cache_dir=tmp_path / "c", ttl=100).router_models()
    assert other.paths() == ["/v1/models"]


def test_a_corrupt_cache_file_is_refetched(fake, clock, tmp_path, new_catalog):
    new_catalog(fake, clock=clock, cache_dir=tmp_path / "c").router_models()
    for file in (tmp_path / "c").iterdir():
        file.write_text("{not json")
    other = type(fake)()
    assert len(new_catalog(other, clock=clock, cache_dir=tmp_path / "c").router_models()) == 9
    assert other.paths() == ["/v1/models"]


def test_default_cache_dir_follows_the_env(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert default_cache_dir() == tmp_path / "hf" / "hfbridge" / "catalog"
    monkeypatch.setenv("HFBRIDGE_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine" / "catalog"


# --- failures ----------------------------------------------------------------------------------


def test_a_failure_is_remembered_then_retried_after_failure_ttl(fake, clock, new_catalog):
    catalog = new_catalog(fake, clock=clock, failure_ttl=30)
    fake.down = True
    with pytest.raises(HFConnectionError):
        catalog.router_models()
    with pytest.raises(HFConnectionError):
        catalog.router_models()
    assert len(fake.requests) == 1  # the second answer came from the remembered failure
    fake.down = False
    clock.now += 31
    assert len(catalog.router_models()) == 9
    assert len(fake.requests) == 2


def test_an_unreachable_host_is_remembered_for_every_question(fake, clock, new_catalog):
    catalog = new_catalog(fake, clock=clock, failure_ttl=30)
    fake.down = True
    for model in ("openai/gpt-oss-120b", "Qwen/Qwen2.5-7B-Instruct", "a/b"):
        with pytest.raises(HFConnectionError):
            catalog.router_model(model)
    assert fake.paths() == ["/v1/models/openai/gpt-oss-120b"]
    with pytest.raises(HFConnectionError):
        catalog.model_status("a/b")  # the Hub is another host: asked once
    assert len(fake.requests) == 2
    fake.down = False
    clock.now += 31
    assert catalog.router_model("a/b") is None


def test_an_http_error_is_remembered_for_that_question_only(fake, clock, new_catalog):
    catalog = new_catalog(fake, clock=clock)
    fake.status["/v1/models/openai/gpt-oss-120b"] = 500
    with pytest.raises(HFServerError):
        catalog.router_model("openai/gpt-oss-120b")
    assert catalog.router_model("Qwen/Qwen2.5-7B-Instruct").id == "Qwen/Qwen2.5-7B-Instruct"


def test_stale_data_answers_when_the_refetch_fails_with_one_warning(fake, clock, new_catalog):
    catalog = new_catalog(fake, clock=clock, ttl=10)
    models = catalog.router_models()
    clock.now += 11
    fake.status["/v1/models"] = 502
    with pytest.warns(CatalogUnavailableWarning, match="past its TTL"):
        assert catalog.router_models() == models
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert catalog.router_models() == models
    with pytest.raises(HFServerError):
        catalog.router_models(refresh=True)


def test_offline_answers_from_the_cache_only(fake, clock, tmp_path, new_catalog):
    new_catalog(fake, clock=clock, cache_dir=tmp_path / "c", ttl=10).router_models()
    clock.now += 1000  # stale, but offline accepts it
    other = type(fake)()
    offline = new_catalog(other, clock=clock, cache_dir=tmp_path / "c", ttl=10, offline=True)
    assert len(offline.router_models()) == 9
    assert offline.router_model("openai/gpt-oss-120b").id == "openai/gpt-oss-120b"
    with pytest.raises(HFConnectionError, match="offline"):
        offline.hub_model("google/gemma-3-27b-it")
    assert other.requests == []


def test_names_split_out_of_the_catalog_module_still_import_from_it():
    # The cache protocol (answers) and the requests (fetching) moved out of catalog.catalog;
    # code that imported them from there keeps working.
    from hfbridge.catalog import answers, catalog, fetching

    assert catalog.CatalogUnavailableWarning is answers.CatalogUnavailableWarning
    assert catalog.CatalogUnavailableWarning is CatalogUnavailableWarning
    assert catalog.HUB_MAX_PAGES == fetching.HUB_MAX_PAGES == 200
    assert issubclass(catalog.Catalog, answers.CachedAnswers)


def test_offline_defaults_to_hf_hub_offline(monkeypatch, fake, new_catalog):
    from hfbridge.catalog import Catalog

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert Catalog(cache_dir=False).offline is True
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert Catalog(cache_dir=False).offline is False


# --- Hub ---------------------------------------------------------------------------------------


def test_hub_models_follows_the_link_header_verbatim(catalog, fake, body):
    models = catalog.hub_models(
        inference_provider="all", pipeline_tag="text-generation", limit=10,
        expand=["inferenceProviderMapping"],
    )  # fmt: skip
    assert [m.id for m in models] == [
        "meta-llama/Llama-3.1-8B-Instruct", "openai/gpt-oss-120b", "Qwen/Qwen2.5-7B-Instruct",
        "meta-llama/Llama-3.3-70B-Instruct", "acme/Widget-13B-Chat",
    ]  # fmt: skip
    first, second = fake.requests
    assert parse_qs(first.url.query.decode()) == {
        "inference_provider": ["all"], "pipeline_tag": ["text-generation"], "limit": ["10"],
        "expand[]": ["inferenceProviderMapping"],
    }  # fmt: skip
    assert str(second.url) == body("hub_models_page2.json")["url"]
    mapping = models[2].inference_provider_mapping
    assert [(m.provider, m.provider_id, m.status) for m in mapping] == [
        ("together", "Qwen/Qwen2.5-7B-Instruct-Turbo", "live"),
        ("featherless-ai", "Qwen/Qwen2.5-7B-Instruct", "staging"),
    ]
    assert (
        models[4].inference_provider_mapping[0].adapter_weights_path == "adapter_model.safetensors"
    )


def test_hub_models_stops_at_the_limit(catalog, fake):
    models = catalog.hub_models(inference_provider=["cerebras", "groq"], limit=2, search="llama")
    assert len(models) == 2
    assert len(fake.requests) == 1  # the first page already had enough
    query = parse_qs(urlsplit(str(fake.requests[0].url)).query)
    assert query == {"inference_provider": ["cerebras,groq"], "search": ["llama"], "limit": ["2"]}


def test_hub_models_caches_per_query(catalog, fake):
    catalog.hub_models(pipeline_tag="text-generation", sort="downloads")
    catalog.hub_models(pipeline_tag="text-generation", sort="downloads")
    assert len(fake.requests) == 2  # two pages, once
    catalog.hub_models(pipeline_tag="text-generation", sort="likes")
    assert len(fake.requests) == 4


@pytest.mark.parametrize("limit", [0, -1, True, 2.5])
def test_hub_models_rejects_a_bad_limit_before_any_request(catalog, fake, limit):
    with pytest.raises(HFConfigError, match="limit"):
        catalog.hub_models(limit=limit)
    assert fake.requests == []


async def test_async_hub_models_paginates(catalog, fake):
    models = await catalog.ahub_models(inference_provider="all")
    assert len(models) == 5
    assert len(fake.requests) == 2


def test_model_status_warm_cold_and_missing(catalog, fake):
    assert catalog.model_status("google/gemma-3-27b-it") == "warm"
    assert catalog.model_status("manycore-research/SpatialLM-Llama-1B") == "cold"
    assert catalog.model_status("nobody/nothing") is None
    request = fake.requests[0]
    assert request.url.path == "/api/models/google/gemma-3-27b-it"
    assert request.url.params.get_list("expand[]") == [
        "inference",
        "inferenceProviderMapping",
        "pipeline_tag",
    ]


def test_provider_mapping_normalises_the_dict_shape(catalog, fake):
    mapping = catalog.provider_mapping("google/gemma-3-27b-it")
    assert [(m.provider, m.provider_id, m.task, m.is_live) for m in mapping] == [
        ("featherless-ai", "google/gemma-3-27b-it", "conversational", True),
        ("scaleway", "gemma-3-27b-it", "conversational", True),
        ("nebius", "google/gemma-3-27b-it-fast", "conversational", False),
    ]
    assert catalog.provider_mapping("manycore-research/SpatialLM-Llama-1B") == []
    assert catalog.provider_mapping("nobody/nothing") == []
    assert len(fake.requests) == 3  # status and mapping share one cached request per model
    assert catalog.model_status("google/gemma-3-27b-it") == "warm"
    assert len(fake.requests) == 3


async def test_async_status_and_mapping(catalog, fake):
    assert await catalog.amodel_status("google/gemma-3-27b-it") == "warm"
    mapping = await catalog.aprovider_mapping("google/gemma-3-27b-it")
    assert mapping[0].provider == "featherless-ai"
    assert await catalog.amodel_status("nobody/nothing") is None
    assert len(fake.requests) == 2


def test_hub_server_errors_raise(catalog, fake):
    fake.status["/api/models/google/gemma-3-27b-it"] = 500
    with pytest.raises(HFServerError):
        catalog.model_status("google/gemma-3-27b-it")
