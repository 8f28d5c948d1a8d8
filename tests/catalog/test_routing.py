"""Routing decisions (table-driven over the recorded catalogue), failover errors, cost estimates."""

import warnings

import pytest

from hfbridge.catalog import (
    CatalogUnavailableWarning,
    ModelCapabilities,
    ProviderInfo,
    aplan_route,
    decide_route,
    estimate_cost,
    is_failover_error,
    parse_model_spec,
    plan_route,
    resolve_model,
)
from hfbridge.errors import (
    HFAuthenticationError,
    HFBadRequestError,
    HFCapabilityError,
    HFConfigError,
    HFConnectionError,
    HFModelLoadingError,
    HFRateLimitError,
    HFServerError,
    HFStreamError,
    HFUnprocessableError,
)

L8 = "meta-llama/Llama-3.1-8B-Instruct"
L70 = "meta-llama/Llama-3.3-70B-Instruct"
OSS = "openai/gpt-oss-120b"
DS = "deepseek-ai/DeepSeek-V4-Pro"

ROUTES = [
    # (model string, needs, expected primary, expected fallbacks)
    pytest.param(
        OSS,
        {"needs_tools": True},
        f"{OSS}:cerebras",
        ["groq", "fireworks-ai"],
        id="tools-fastest-by-default",
    ),
    pytest.param(
        f"{OSS}:fastest",
        {"needs_tools": True},
        f"{OSS}:cerebras",
        ["groq", "fireworks-ai"],
        id="tools-fastest",
    ),
    pytest.param(
        f"{OSS}:cheapest",
        {"needs_tools": True},
        f"{OSS}:nscale",
        ["novita", "groq"],
        id="tools-cheapest-output-price",
    ),
    pytest.param(
        f"{OSS}:preferred",
        {"needs_tools": True},
        f"{OSS}:cerebras",
        ["groq", "fireworks-ai"],
        id="tools-preferred-catalogue-order",
    ),
    pytest.param(
        L8,
        {"needs_tools": True},
        f"{L8}:cerebras",
        ["nscale"],
        id="tools-only-capable-live-providers",
    ),
    pytest.param(
        f"{L8}:cerebras", {"needs_tools": True}, f"{L8}:cerebras", [], id="tools-pinned-capable"
    ),
    pytest.param(
        f"{DS}:featherless-ai",
        {"needs_tools": True},
        f"{DS}:featherless-ai",
        [],
        id="tools-pinned-unknown-is-not-a-refusal",
    ),
    pytest.param(
        L8,
        {"needs_structured_output": True},
        f"{L8}:nscale",
        ["featherless-ai", "cerebras"],
        id="schema-prefers-supporting-providers",
    ),
    pytest.param(
        L70,
        {"needs_tools": True, "needs_structured_output": True},
        f"{L70}:together",
        ["cerebras", "groq"],
        id="tools-and-schema",
    ),
    pytest.param(L8, {"min_context": 100_000}, f"{L8}:nscale", [], id="context-filter"),
    pytest.param(
        DS,
        {"needs_tools": True, "min_context": 600_000},
        f"{DS}:fireworks-ai",
        ["novita", "featherless-ai"],
        id="context-and-tools-unverified-last",
    ),
    pytest.param(
        "acme/Widget-13B-Chat",
        {"needs_tools": True},
        "acme/Widget-13B-Chat:acme-cloud",
        [],
        id="unknown-provider-staging-skipped",
    ),
    pytest.param(
        "nobody/unlisted",
        {"needs_tools": True},
        "nobody/unlisted",
        [],
        id="model-not-in-catalogue-passes-through",
    ),
    pytest.param(
        f"{OSS}:sambanova",
        {"needs_tools": True},
        f"{OSS}:sambanova",
        [],
        id="pinned-provider-not-listed-passes-through",
    ),
    pytest.param(
        f"{OSS}:cheapest", {}, f"{OSS}:cheapest", [], id="no-needs-policy-goes-to-the-router"
    ),
    pytest.param(f"{L8}:novita", {}, f"{L8}:novita", [], id="no-needs-pin-kept"),
]


@pytest.mark.parametrize(("model", "needs", "primary", "fallbacks"), ROUTES)
def test_route(catalog, model, needs, primary, fallbacks):
    plan = plan_route(parse_model_spec(model), catalog=catalog, **needs)
    assert plan.primary.router_model == primary
    assert [spec.provider for spec in plan.fallbacks] == fallbacks
    assert all(
        spec.model_id == plan.primary.model_id and spec.policy is None for spec in plan.fallbacks
    )
    assert plan.candidates == [plan.primary, *plan.fallbacks]
    assert plan.reason


GEMMA = "google/gemma-2-2b-it"
COHERE = "CohereLabs/c4ai-command-r-plus"
TOOLS = {"needs_tools": True}

REFUSALS = {
    # id: (model string, needs, expected message fragment, providers the error offers)
    "pinned-without-tools": (
        f"{L8}:novita", TOOLS,
        (f"provider 'novita' does not support tool calling for model {L8}; providers that do: "
        f"cerebras, nscale; pin one with '{L8}:cerebras' or drop ':novita'."),
        ("cerebras", "nscale"),
    ),
    "pinned-without-schema": (
        f"{L70}:groq", {"needs_structured_output": True},
        "provider 'groq' does not support structured output", ("together",),
    ),
    "pinned-context-too-small": (
        f"{L8}:cerebras", {"min_context": 50_000},
        "provider 'cerebras' serves only 32768 tokens of context, fewer than the 50000",
        ("nscale",),
    ),
    "pinned-and-nobody-can": (
        f"{GEMMA}:nebius", TOOLS, f"no live provider of {GEMMA} does: use the 'agent' alias", (),
    ),
    "no-live-provider-with-tools": (
        GEMMA, TOOLS,
        (f"no live provider of model {GEMMA} supports tool calling (live: nebius, featherless-ai); "
        "use the 'agent' alias"),
        (),
    ),
    "no-provider-with-the-context": (
        L8, {"min_context": 200_000}, "accepts a 200000-token context; the longest is 131072", (),
    ),
    "no-live-provider-at-all": (
        COHERE, TOOLS, f"no live provider serves model {COHERE} (catalogue: cohere=error)", (),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", REFUSALS.values(), ids=REFUSALS.keys())
def test_refusal(catalog, fake, case):
    model, needs, message, capable = case
    with pytest.raises(HFCapabilityError) as info:
        plan_route(parse_model_spec(model), catalog=catalog, **needs)
    assert message in str(info.value)
    assert info.value.capable_providers == capable
    assert info.value.model == parse_model_spec(model).model_id
    assert isinstance(info.value, HFConfigError)
    assert all(not request.url.path.endswith("/chat/completions") for request in fake.requests)


def test_structured_output_refusal_suggests_function_calling(catalog):
    with pytest.raises(HFCapabilityError, match="method='function_calling'"):
        plan_route(
            parse_model_spec(f"{L70}:cerebras"), needs_structured_output=True, catalog=catalog
        )


def test_alias_is_kept_on_the_chosen_route(catalog):
    plan = plan_route(resolve_model("agent", kind="chat"), needs_tools=True, catalog=catalog)
    assert plan.primary.alias == "agent"
    assert plan.primary.router_model == f"{OSS}:cerebras"
    assert all(spec.alias == "agent" for spec in plan.fallbacks)


def test_no_needs_makes_no_request(catalog, fake):
    plan = plan_route(parse_model_spec(OSS), catalog=catalog)
    assert plan.primary.router_model == OSS
    assert "no capability needed" in plan.reason
    assert fake.requests == []


def test_catalog_down_passes_through_with_exactly_one_warning(catalog, fake):
    fake.down = True
    spec = parse_model_spec(f"{L8}:novita")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")  # duplicates would show: "once" is hfbridge's doing
        plans = [plan_route(spec, needs_tools=True, catalog=catalog) for _ in range(3)]
        plans.append(
            plan_route(parse_model_spec(OSS), needs_structured_output=True, catalog=catalog)
        )
    assert [w.category for w in record] == [CatalogUnavailableWarning]
    assert [plan.primary for plan in plans[:3]] == [spec] * 3
    assert all(plan.fallbacks == [] and "catalog unavailable" in plan.reason for plan in plans)


async def test_async_plan_route(catalog, fake):
    plan = await aplan_route(parse_model_spec(f"{OSS}:cheapest"), needs_tools=True, catalog=catalog)
    assert plan.primary.router_model == f"{OSS}:nscale"
    with pytest.raises(HFCapabilityError):
        await aplan_route(parse_model_spec(f"{L8}:novita"), needs_tools=True, catalog=catalog)
    fake.down = True
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # cached: the outage is not even noticed
        assert (
            await aplan_route(parse_model_spec(OSS), needs_tools=True, catalog=catalog)
        ).fallbacks


def test_decide_route_is_pure():
    caps = ModelCapabilities(
        "a/b", known=True, available=True,
        providers=[
            ProviderInfo("x", "live", 8192, 1.0, 2.0, True, None, 100.0, 50.0),
            ProviderInfo("y", "live", 8192, 0.5, 1.0, True, None, 900.0, 10.0),
            ProviderInfo("z", "error", 8192, 0.1, 0.1, True, None, 10.0, 500.0),
        ],
    )  # fmt: skip
    cheapest = decide_route(parse_model_spec("a/b:cheapest"), caps, needs_tools=True)
    assert (cheapest.primary.provider, [s.provider for s in cheapest.fallbacks]) == ("y", ["x"])
    fastest = decide_route(parse_model_spec("a/b"), caps, needs_tools=True)
    assert fastest.primary.provider == "x"
    assert "highest throughput" in fastest.reason
    assert "fallbacks: y" in fastest.reason


# --- failover and cost -------------------------------------------------------------------------

ERRORS = [
    (HFServerError("x", status_code=500), True),
    (HFServerError("x", status_code=502), True),
    (HFModelLoadingError("x", status_code=503, estimated_time=20.0), True),
    (HFUnprocessableError("x", status_code=422), True),
    (HFStreamError("x", status_code=503), True),
    (HFStreamError("x", status_code=422), True),
    (HFStreamError("x", status_code=400), False),
    (HFStreamError("x"), False),
    (HFBadRequestError("x", status_code=400), False),
    (HFRateLimitError("x", status_code=429, retry_after=1.0), False),
    (HFAuthenticationError("x", status_code=401), False),
    (HFConnectionError("x"), False),
    (ValueError("x"), False),
]


@pytest.mark.parametrize(
    ("error", "expected"),
    ERRORS,
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_is_failover_error(error, expected):
    assert is_failover_error(error) is expected


@pytest.mark.parametrize(
    ("info", "prompt", "completion", "expected"),
    [
        (ProviderInfo("groq", input_price=0.15, output_price=0.6), 1000, 500, 0.00045),
        (ProviderInfo("groq", input_price=0.15, output_price=0.6), 2_000_000, 0, 0.3),
        (ProviderInfo("x", input_price=0.15), 1000, 0, 0.00015),
        (ProviderInfo("x", input_price=0.15), 1000, 10, None),  # output price unknown
        (ProviderInfo("x"), 0, 0, None),
        (ProviderInfo("x", input_price=1.0, output_price=1.0, is_free=True), 1000, 1000, 0.0),
        (None, 10, 10, None),
    ],
)
def test_estimate_cost(info, prompt, completion, expected):
    cost = estimate_cost(info, prompt, completion)
    assert cost == (pytest.approx(expected) if expected is not None else None)


def test_cost_from_the_catalogue_row(catalog):
    from hfbridge.catalog import capabilities

    row = capabilities(parse_model_spec(DS), catalog=catalog).provider_info("together")
    assert estimate_cost(row, 1_000_000, 1_000_000) == pytest.approx(6.5)
    assert (
        estimate_cost(
            capabilities(parse_model_spec(DS), catalog=catalog).provider_info("fireworks-ai"),
            10,
            10,
        )
        is None
    )
