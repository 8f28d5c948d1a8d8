"""The `hfbridge` command, through its entry point, over a catalog backed by recorded bodies."""

import io
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import httpx
import pytest

from hfbridge.catalog import Catalog
from hfbridge.cli import main
from hfbridge.transport import AsyncHFClient, HFClient

FIXTURES = Path(__file__).parent / "fixtures" / "catalog"


def recorded(name):
    return json.loads((FIXTURES / name).read_text())


class Hub:
    def __init__(self):
        self.requests = []
        self.down = False

    def __call__(self, request):
        self.requests.append(request)
        path = request.url.path
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        if path == "/v1/models":
            return httpx.Response(200, json=recorded("router_models.json"))
        if path == "/api/models":
            page = recorded(
                "hub_models_page2.json"
                if "cursor" in request.url.params
                else "hub_models_page1.json"
            )
            return httpx.Response(200, json=page["body"], headers=page["headers"])
        if path.startswith("/api/models/"):
            file = FIXTURES / f"hub_model_{path.rsplit('/', 1)[-1]}.json"
            if file.exists():
                return httpx.Response(200, json=json.loads(file.read_text()))
        return httpx.Response(404, json={"error": "not found"})


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    for name in ("HFBRIDGE_ALIASES", "HF_HUB_OFFLINE", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def hub():
    return Hub()


@pytest.fixture
def catalog(hub):
    transport = httpx.MockTransport(hub)
    return Catalog(
        HFClient(transport=transport, max_retries=0),
        AsyncHFClient(transport=transport, max_retries=0),
        cache_dir=False, offline=False, hub_url="https://huggingface.co/api",
    )  # fmt: skip


def run(catalog, *argv):
    out = io.StringIO()
    code = main(list(argv), catalog=catalog, out=out)
    return code, out.getvalue()


def rows(text):
    """Table rows (after the header and the dashes) split on runs of two spaces."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("---")) + 1
    return [
        [cell.strip() for cell in line.split("  ") if cell.strip()]
        for line in lines[start:]
        if line.strip()
    ]


def test_models_prints_one_row_per_provider(catalog):
    code, text = run(catalog, "models")
    assert code == 0
    table = rows(text)
    assert len(table) == 29  # every provider entry of the 9 listed models
    header = text.splitlines()[1]
    for column in (
        "model",
        "provider",
        "status",
        "context",
        "price",
        "latency",
        "throughput",
        "tools",
    ):
        assert column in header
    assert [
        "deepseek-ai/DeepSeek-V4-Pro",
        "together",
        "live",
        "512,000",
        "$2.1 / $4.4",
        "611 ms",
        "40 tok/s",
        "yes",
        "yes",
    ] in table
    assert [
        "deepseek-ai/DeepSeek-V4-Pro",
        "featherless-ai",
        "live",
        "-",
        "-",
        "-",
        "-",
        "-",
        "-",
    ] in table


def test_models_filters_tools_provider_search(catalog):
    _, text = run(catalog, "models", "--tools", "--search", "LLAMA-3.1")
    assert [(row[0], row[1]) for row in rows(text)] == [
        ("meta-llama/Llama-3.1-8B-Instruct", "cerebras"),
        ("meta-llama/Llama-3.1-8B-Instruct", "nscale"),
    ]
    _, text = run(catalog, "models", "--provider", "groq")
    assert {row[1] for row in rows(text)} == {"groq"}
    assert [row[0] for row in rows(text)] == [
        "meta-llama/Llama-3.3-70B-Instruct",
        "openai/gpt-oss-120b",
        "meta-llama/Llama-4-Scout-17B-16E-Instruct",
    ]


@pytest.mark.parametrize(
    ("order", "first", "last"),
    [
        (
            "price",
            ("meta-llama/Llama-3.1-8B-Instruct", "novita"),
            ("acme/Widget-13B-Chat", "novita"),
        ),
        (
            "latency",
            ("meta-llama/Llama-3.3-70B-Instruct", "groq"),
            ("acme/Widget-13B-Chat", "novita"),
        ),
        ("throughput", ("openai/gpt-oss-120b", "cerebras"), ("acme/Widget-13B-Chat", "novita")),
    ],
)
def test_models_sort(catalog, order, first, last):
    _, text = run(catalog, "models", "--sort", order)
    table = rows(text)
    assert tuple(table[0][:2]) == first
    assert tuple(table[-1][:2]) == last


def test_models_limit_and_vision_task(catalog):
    _, text = run(catalog, "models", "--sort", "throughput", "--limit", "2")
    assert len(rows(text)) == 2
    _, text = run(catalog, "models", "--task", "image-text-to-text")
    assert {row[0] for row in rows(text)} == {"meta-llama/Llama-4-Scout-17B-16E-Instruct"}


def test_models_for_a_hub_task_use_the_provider_mapping(catalog, hub):
    code, text = run(catalog, "models", "--task", "feature-extraction", "--provider", "groq")
    assert code == 0
    assert rows(text) == [
        ["openai/gpt-oss-120b", "groq", "live", "conversational", "openai/gpt-oss-120b"],
        [
            "meta-llama/Llama-3.3-70B-Instruct",
            "groq",
            "live",
            "conversational",
            "llama-3.3-70b-versatile",
        ],
    ]
    first = hub.requests[0].url.params
    assert (first["pipeline_tag"], first["inference_provider"], first["limit"]) == (
        "feature-extraction",
        "groq",
        "50",
    )
    assert len(hub.requests) == 2  # followed the Link header


def test_models_for_rerank_ask_the_hub_for_text_ranking_models(catalog, hub):
    code, text = run(catalog, "models", "--task", "rerank")
    assert code == 0
    assert "Hub rerank models (pipeline tag 'text-ranking'" in text
    assert "not told apart" in text  # what the catalog cannot tell is said
    assert hub.requests[0].url.params["pipeline_tag"] == "text-ranking"


def test_aliases_show_the_rerank_table(catalog, tmp_path):
    (tmp_path / "hfbridge.toml").write_text('[rerank]\nsmall = "org/tiny-reranker"\n')
    code, text = run(catalog, "aliases", "--kind", "rerank")
    assert code == 0
    assert rows(text) == [
        ["rerank", "default", "BAAI/bge-reranker-v2-m3", "built-in"],
        ["rerank", "large", "BAAI/bge-reranker-large", "built-in"],
        ["rerank", "small", "org/tiny-reranker", str(tmp_path / "hfbridge.toml")],
    ]


def test_models_json(catalog):
    code, text = run(
        catalog, "models", "--provider", "cerebras", "--search", "gpt-oss", "--format", "json"
    )
    assert code == 0
    (record,) = json.loads(text)
    assert record["model"] == "openai/gpt-oss-120b"
    assert record["price"] == [0.25, 0.69]
    assert (record["context_length"], record["supports_tools"], record["throughput"]) == (
        131072,
        True,
        2811.6,
    )


def test_models_rich(catalog):
    code, text = run(catalog, "models", "--search", "gpt-oss", "--format", "rich")
    assert code == 0
    assert "┃ model" in text
    assert "openai/gpt-oss-120b" in text
    assert "2812 tok/s" in text


def test_rich_missing_falls_back_to_plain(catalog, monkeypatch):
    monkeypatch.setitem(sys.modules, "rich", None)
    monkeypatch.setitem(sys.modules, "rich.console", None)
    code, text = run(catalog, "models", "--search", "gpt-oss", "--format", "rich")
    assert code == 0
    assert "┃" not in text
    assert rows(text)[1][:2] == ["openai/gpt-oss-120b", "groq"]


def test_status_shows_warm_and_the_mapping(catalog):
    code, text = run(catalog, "status", "google/gemma-3-27b-it")
    assert code == 0
    assert text.splitlines()[0] == "google/gemma-3-27b-it: warm"
    assert [row[1] for row in rows(text)] == ["featherless-ai", "scaleway", "nebius"]


def test_status_of_an_alias_shows_each_router_provider(catalog):
    code, text = run(catalog, "status", "agent")
    assert code == 0
    assert text.splitlines()[0] == "openai/gpt-oss-120b (alias 'agent'): warm"
    profile = text.splitlines()[1]
    assert profile.startswith("LangChain profile (ChatHF.refresh_profile()): ")
    assert "tool_calling=True" in profile
    assert "max_input_tokens=" in profile
    assert [row[1] for row in rows(text)] == [
        "cerebras",
        "groq",
        "fireworks-ai",
        "together",
        "novita",
        "nscale",
    ]


def test_status_cold_unknown_and_json(catalog):
    code, text = run(catalog, "status", "manycore-research/SpatialLM-Llama-1B")
    assert (code, text.splitlines()[0]) == (0, "manycore-research/SpatialLM-Llama-1B: cold")
    code, text = run(catalog, "status", "nobody/nothing")
    assert (code, text.splitlines()[0]) == (1, "nobody/nothing: not found")
    code, text = run(catalog, "status", "meta-llama/Llama-3.1-8B-Instruct", "--format", "json")
    payload = json.loads(text)
    assert payload["status"] == "warm"
    assert payload["profile"]["text_inputs"] is True
    assert payload["profile"]["image_inputs"] is False  # text-only in the catalogue
    assert [p["provider"] for p in payload["providers"]][-1] == "sambanova"


def test_catalog_down_is_an_error_exit(catalog, hub, capsys):
    hub.down = True
    assert main(["models"], catalog=catalog, out=io.StringIO()) == 1
    assert "hfbridge: error:" in capsys.readouterr().err
    assert main(["status", "openai/gpt-oss-120b"], catalog=catalog, out=io.StringIO()) == 1


def test_usage_errors(catalog, capsys):
    assert (
        main(
            ["models", "--task", "feature-extraction", "--tools"],
            catalog=catalog,
            out=io.StringIO(),
        )
        == 2
    )
    assert "--tools and --sort" in capsys.readouterr().err
    assert main(["status", "not a model"], catalog=catalog, out=io.StringIO()) == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["models", "--limit", "0"], catalog=catalog)
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit):
        main([], catalog=catalog)


def test_aliases_table_and_sources(catalog, tmp_path):
    (tmp_path / "hfbridge.toml").write_text('[chat]\nlarge = "openai/gpt-oss-120b"\n')
    code, text = run(catalog, "aliases", "--kind", "chat")
    assert code == 0
    assert rows(text) == [
        ["chat", "default", "meta-llama/Llama-3.1-8B-Instruct", "built-in"],
        ["chat", "large", "openai/gpt-oss-120b", str(tmp_path / "hfbridge.toml")],
        ["chat", "small", "Qwen/Qwen2.5-7B-Instruct", "built-in"],
        ["chat", "agent", "openai/gpt-oss-120b", "built-in"],
        ["chat", "vision", "meta-llama/Llama-4-Scout-17B-16E-Instruct", "built-in"],
    ]


def test_aliases_check(catalog, monkeypatch):
    code, text = run(catalog, "aliases", "--kind", "chat", "--check")
    assert code == 0
    assert "every alias points at a served model" in text
    monkeypatch.setenv("HFBRIDGE_ALIASES", '{"chat": {"agent": "google/gemma-2-2b-it"}}')
    code, text = run(catalog, "aliases", "--check", "--format", "plain")
    assert code == 1
    problem = "problem: chat alias 'agent': no live provider of 'google/gemma-2-2b-it' supports"
    assert f"{problem} tool calling" in text


def test_demo_runs_hfbridge_demo_main(monkeypatch, catalog):
    calls = []
    monkeypatch.setitem(
        sys.modules, "hfbridge.demo", types.SimpleNamespace(main=lambda: calls.append("ran"))
    )
    assert main(["demo"], catalog=catalog) == 0
    assert calls == ["ran"]


def test_the_installed_console_script(tmp_path):
    script = Path(sys.executable).parent / "hfbridge"
    env = {key: value for key, value in os.environ.items() if key != "HFBRIDGE_ALIASES"}
    env["HFBRIDGE_ALIASES"] = '{"embeddings": {"default": "BAAI/bge-large-en-v1.5"}}'
    done = subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [str(script), "aliases", "--kind", "embeddings", "--format", "json"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0] == {
        "kind": "embeddings", "alias": "default", "model": "BAAI/bge-large-en-v1.5",
        "source": "env HFBRIDGE_ALIASES",
    }  # fmt: skip
