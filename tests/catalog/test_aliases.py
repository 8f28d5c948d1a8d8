"""Alias tables: built-ins, hfbridge.toml, pyproject, HFBRIDGE_ALIASES, overrides, checks."""

import json
import os
import warnings

import pytest

from hfbridge.catalog import (
    BUILTIN_ALIASES,
    AliasWarning,
    CatalogUnavailableWarning,
    alias_sources,
    alias_table,
    check_aliases,
    resolve_model,
)
from hfbridge.errors import HFConfigError


def test_builtins_resolve():
    assert resolve_model(None, kind="chat").model_id == BUILTIN_ALIASES["chat"]["default"]
    agent = resolve_model("agent:cheapest", kind="chat")
    assert (agent.model_id, agent.policy, agent.alias) == (
        "openai/gpt-oss-120b",
        "cheapest",
        "agent",
    )
    assert (
        resolve_model("small", kind="embeddings").model_id
        == "sentence-transformers/all-MiniLM-L6-v2"
    )
    assert set(alias_table("chat")) == {"default", "large", "small", "agent", "vision"}
    assert {alias: source for alias, (_, source) in alias_sources("chat").items()} == dict.fromkeys(
        ("default", "large", "small", "agent", "vision"), "built-in"
    )


def test_unknown_alias_lists_the_known_ones():
    with pytest.raises(
        HFConfigError,
        match="unknown chat alias 'tiny': known aliases are agent, default, large, small",
    ):
        resolve_model("tiny", kind="chat")


@pytest.mark.parametrize("bad", ["", "  ", "org/na me", "org/name:Bad Provider", "/name", "a/b/c"])
def test_malformed_model_ids_fail_before_any_request(bad):
    with pytest.raises(HFConfigError):
        resolve_model(bad, kind="chat")


def test_env_json_overrides_builtins(monkeypatch):
    monkeypatch.setenv(
        "HFBRIDGE_ALIASES",
        json.dumps(
            {
                "chat": {
                    "default": "Qwen/Qwen2.5-7B-Instruct",
                    "coder": "Qwen/Qwen2.5-Coder-32B-Instruct",
                }
            }
        ),
    )
    assert resolve_model(None, kind="chat").model_id == "Qwen/Qwen2.5-7B-Instruct"
    assert resolve_model("coder", kind="chat").alias == "coder"
    sources = alias_sources("chat")
    assert sources["default"] == ("Qwen/Qwen2.5-7B-Instruct", "env HFBRIDGE_ALIASES")
    assert sources["large"][1] == "built-in"
    assert alias_table("embeddings") == BUILTIN_ALIASES["embeddings"]


def test_env_path_to_json_and_toml(monkeypatch, tmp_path):
    json_file = tmp_path / "a.json"
    json_file.write_text(json.dumps({"embeddings": {"default": "BAAI/bge-large-en-v1.5"}}))
    monkeypatch.setenv("HFBRIDGE_ALIASES", str(json_file))
    assert resolve_model(None, kind="embeddings").model_id == "BAAI/bge-large-en-v1.5"
    assert alias_sources("embeddings")["default"][1] == f"env HFBRIDGE_ALIASES ({json_file})"
    toml_file = tmp_path / "a.toml"
    toml_file.write_text('[aliases.chat]\nlarge = "openai/gpt-oss-120b:groq"\n')
    monkeypatch.setenv("HFBRIDGE_ALIASES", str(toml_file))
    assert resolve_model("large", kind="chat").router_model == "openai/gpt-oss-120b:groq"


def test_file_precedence_and_sources(monkeypatch, tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "app"\n\n[tool.hfbridge.aliases.chat]\n'
        'default = "a/from-pyproject"\nlarge = "a/large-from-pyproject"\n'
        'small = "a/small-from-pyproject"\n'
    )
    (tmp_path / "hfbridge.toml").write_text(
        '[chat]\ndefault = "b/from-toml"\nlarge = "b/large-from-toml"\n'
    )
    monkeypatch.setenv("HFBRIDGE_ALIASES", '{"chat": {"default": "c/from-env"}}')
    sources = alias_sources("chat", {"agent": "d/from-override"})
    assert sources == {
        "default": ("c/from-env", "env HFBRIDGE_ALIASES"),
        "large": ("b/large-from-toml", str(tmp_path / "hfbridge.toml")),
        "small": (
            "a/small-from-pyproject",
            f"{tmp_path / 'pyproject.toml'} [tool.hfbridge.aliases]",
        ),
        "agent": ("d/from-override", "override"),
        "vision": ("meta-llama/Llama-4-Scout-17B-16E-Instruct", "built-in"),
    }
    assert (
        resolve_model("small", kind="chat", overrides={"small": "e/per-call"}).model_id
        == "e/per-call"
    )


def test_a_changed_file_is_reloaded(tmp_path):
    config = tmp_path / "hfbridge.toml"
    config.write_text('[chat]\ndefault = "a/one"\n')
    assert resolve_model(None, kind="chat").model_id == "a/one"
    config.write_text('[chat]\ndefault = "a/two"\n')
    stat = config.stat()
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    assert resolve_model(None, kind="chat").model_id == "a/two"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ("{not json", "not valid JSON"),
        ("/no/such/file.json", "neither JSON text nor an existing file"),
        ('{"reranking": {"default": "a/b"}}', "unknown alias kind 'reranking'"),
        ('{"chat": ["a/b"]}', "must be a table"),
        ('{"chat": {"default": 3}}', "chat.default must be a model id string"),
        ('{"chat": {"default": "not a model"}}', "env HFBRIDGE_ALIASES: chat.default"),
        ('{"chat": {"my/alias": "a/b"}}', "alias name 'my/alias'"),
        ('["a/b"]', "aliases must be a table"),
    ],
)
def test_bad_env_config_fails_with_the_source(monkeypatch, env, message):
    monkeypatch.setenv("HFBRIDGE_ALIASES", env)
    with pytest.raises(HFConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        resolve_model(None, kind="chat")


def test_bad_files(tmp_path):
    (tmp_path / "hfbridge.toml").write_text("[chat\n")
    with pytest.raises(HFConfigError, match="cannot read alias file"):
        resolve_model(None, kind="chat")
    (tmp_path / "hfbridge.toml").write_text('[chat]\ndefault = "bad id!"\n')
    with pytest.raises(HFConfigError, match=r"hfbridge\.toml: chat\.default"):
        resolve_model(None, kind="chat")


def test_an_unreadable_pyproject_is_not_ours_to_fail_on(tmp_path):
    (tmp_path / "pyproject.toml").write_text("this is = = not toml")
    assert resolve_model(None, kind="chat").alias == "default"


def test_bad_override_is_rejected():
    with pytest.raises(HFConfigError, match=r"override: chat\.default"):
        alias_table("chat", {"default": "no good"})
    with pytest.raises(HFConfigError, match="unknown alias kind"):
        alias_sources("reranking")  # type: ignore[arg-type]


# --- checks against the catalog ----------------------------------------------------------------

RERANKER = "BAAI/bge-reranker-v2-m3"  # the one reranker of the fixtures
SERVED_RERANK = dict.fromkeys(("default", "large", "small"), RERANKER)
OVERRIDES = {
    "chat": {"agent": "google/gemma-2-2b-it", "small": "CohereLabs/c4ai-command-r-plus"},
    "embeddings": {
        "large": "sentence-transformers/all-mpnet-base-v2",
        "small": "nobody/unknown-embedder",
    },
    "rerank": {**SERVED_RERANK, "small": "sentence-transformers/all-mpnet-base-v2"},
}


def test_check_aliases_flags_unserved_and_tool_less_agent(catalog):
    with pytest.warns(AliasWarning) as record:
        issues = check_aliases(catalog, overrides=OVERRIDES)
    assert [(i.kind, i.alias) for i in issues] == [
        ("chat", "small"),
        ("chat", "agent"),
        ("embeddings", "small"),
        ("rerank", "small"),  # an embeddings model: hf-inference serves it for feature-extraction
    ]
    assert "no live provider serves 'CohereLabs/c4ai-command-r-plus'" in issues[0].message
    assert "supports tool calling, which 'agent' promises" in issues[1].message
    assert "for text-ranking or text-classification" in issues[3].message
    assert len(record) == 4
    assert "hfbridge models" in str(record[0].message)


def test_builtin_chat_aliases_are_served_in_the_recorded_catalogue(catalog):
    overrides = {
        "embeddings": dict.fromkeys(("large", "small"), "sentence-transformers/all-mpnet-base-v2"),
        "rerank": SERVED_RERANK,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_aliases(catalog, overrides=overrides) == []


def test_a_pinned_agent_must_have_tools_there(catalog):
    served = "sentence-transformers/all-mpnet-base-v2"
    overrides = {
        "chat": {"agent": "meta-llama/Llama-3.1-8B-Instruct:novita"},
        "embeddings": dict.fromkeys(("large", "small"), served),
        "rerank": SERVED_RERANK,
    }
    issues = check_aliases(catalog, overrides=overrides, warn=False)
    assert [i.message for i in issues] == [
        (
            "chat alias 'agent': 'meta-llama/Llama-3.1-8B-Instruct:novita' does not support tool "
            "calling, which 'agent' promises"
        ),
    ]


def test_check_aliases_with_the_catalog_down_reports_nothing_and_warns_once(catalog, fake):
    fake.down = True
    with pytest.warns(CatalogUnavailableWarning) as record:
        assert check_aliases(catalog) == []
    assert len(record) == 1
