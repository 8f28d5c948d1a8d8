"""Where the token comes from (PROTOCOL.md 5), and which hosts may receive it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hfbridge.transport import ClientConfig, Secret
from hfbridge.transport.auth import hf_home, is_hf_host, is_hf_origin, origin_of, resolve_token

EXPLICIT = "hf_explicit0000000000"
ENV = "hf_env000000000000000"
LEGACY = "hf_legacy000000000000"
PATH_FILE = "hf_pathfile0000000000"
HOME_FILE = "hf_hfhomefile00000000"
CACHE_FILE = "hf_cachefile000000000"


@pytest.fixture
def every_source(monkeypatch, tmp_path, clear_hf_env):
    """Every token source set, each to a different token. Returns a function that removes one."""
    monkeypatch.setenv("HF_TOKEN", ENV)
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", LEGACY)
    path_file = tmp_path / "custom" / "token"
    path_file.parent.mkdir()
    path_file.write_text(PATH_FILE)
    monkeypatch.setenv("HF_TOKEN_PATH", str(path_file))
    hf_home_dir = tmp_path / "hf_home"
    hf_home_dir.mkdir()
    (hf_home_dir / "token").write_text(HOME_FILE)
    monkeypatch.setenv("HF_HOME", str(hf_home_dir))
    cache = clear_hf_env / ".cache" / "huggingface"
    cache.mkdir(parents=True)
    (cache / "token").write_text(CACHE_FILE)
    files = {"HF_TOKEN_PATH": path_file, "HF_HOME": hf_home_dir / "token", "CACHE": cache / "token"}

    def remove(source):
        if source in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
            monkeypatch.delenv(source)
        else:
            files[source].unlink()

    return remove


def test_resolution_order(every_source):
    steps = [
        ("HF_TOKEN", ENV, "env"),
        ("HUGGING_FACE_HUB_TOKEN", LEGACY, "env"),
        ("HF_TOKEN_PATH", PATH_FILE, "file"),
        ("HF_HOME", HOME_FILE, "file"),
        ("CACHE", CACHE_FILE, "file"),
    ]
    secret, source = resolve_token(EXPLICIT)
    assert (secret.get_secret_value(), source) == (EXPLICIT, "explicit")
    for name, value, expected_source in steps:
        secret, source = resolve_token()
        assert (secret.get_secret_value(), source) == (value, expected_source), name
        every_source(name)
    assert resolve_token() == (None, "none")


def test_explicit_secret_object_is_accepted(every_source):
    secret, source = resolve_token(Secret(f"  {EXPLICIT}\n"))
    assert (secret.get_secret_value(), source) == (EXPLICIT, "explicit")


def test_config_records_the_source(every_source):
    assert ClientConfig.create().token_source == "env"
    assert ClientConfig.create(token=EXPLICIT).token_source == "explicit"


@pytest.mark.parametrize("raw", [f"  {ENV}  ", f"{ENV}\n", f"{ENV}\r\n", f"\t{ENV}\r"])
def test_whitespace_is_cleaned_from_env(monkeypatch, raw):
    monkeypatch.setenv("HF_TOKEN", raw)
    secret, _ = resolve_token()
    assert secret.get_secret_value() == ENV


def test_whitespace_is_cleaned_from_explicit_and_files(monkeypatch, tmp_path):
    assert resolve_token(f" {EXPLICIT}\r\n")[0].get_secret_value() == EXPLICIT
    token_file = tmp_path / "token"
    token_file.write_text(f"{PATH_FILE}\n\n")
    monkeypatch.setenv("HF_TOKEN_PATH", str(token_file))
    assert resolve_token()[0].get_secret_value() == PATH_FILE


def test_blank_env_values_are_no_token(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "  \n")
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", LEGACY)
    assert resolve_token()[0].get_secret_value() == LEGACY
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", "")
    assert resolve_token() == (None, "none")


def test_an_empty_token_file_is_skipped(monkeypatch, tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    monkeypatch.setenv("HF_TOKEN_PATH", str(empty))
    home = Path(os.environ["HF_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "token").write_text(HOME_FILE)
    assert resolve_token()[0].get_secret_value() == HOME_FILE


def test_token_path_expands_the_home_directory(monkeypatch, clear_hf_env):
    (clear_hf_env / "my-token").write_text(PATH_FILE)
    monkeypatch.setenv("HF_TOKEN_PATH", "~/my-token")
    assert resolve_token()[0].get_secret_value() == PATH_FILE


def test_hf_home_defaults_to_xdg_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hf_home() == tmp_path / "xdg" / "huggingface"
    hf_home().mkdir(parents=True)
    (hf_home() / "token").write_text(HOME_FILE)
    assert resolve_token()[0].get_secret_value() == HOME_FILE


def test_no_source_at_all():
    assert resolve_token() == (None, "none")
    assert ClientConfig.create().token is None


@pytest.mark.parametrize(
    ("host", "trusted"),
    [
        ("router.huggingface.co", True),
        ("huggingface.co", True),
        ("HuggingFace.CO.", True),
        ("hf.co", True),
        ("api.hf.co", True),
        ("evilhuggingface.co", False),
        ("huggingface.co.evil.example", False),
        ("127.0.0.1", False),
        ("", False),
        (None, False),
    ],
)
def test_hf_hosts(host, trusted):
    assert is_hf_host(host) is trusted


@pytest.mark.parametrize(
    ("url", "trusted"),
    [
        ("https://router.huggingface.co/v1", True),
        ("https://huggingface.co:443/api", True),
        ("http://huggingface.co/api", False),  # the token would cross the network in clear
        ("https://huggingface.co:8443/api", False),
        ("https://evilhuggingface.co/api", False),
        ("not a url", False),
        (None, False),
    ],
)
def test_hf_origins(url, trusted):
    assert is_hf_origin(origin_of(url)) is trusted


def test_the_hf_endpoint_origin_is_trusted_and_only_it(monkeypatch):
    assert not is_hf_origin(origin_of("https://hub.internal.example/api"))
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.internal.example")
    assert is_hf_origin(origin_of("https://hub.internal.example/api"))
    assert is_hf_origin(origin_of("https://HUB.internal.example:443/api"))
    assert not is_hf_origin(origin_of("https://hub.internal.example:8443/api"))  # another port
    assert not is_hf_origin(origin_of("http://hub.internal.example/api"))  # another scheme
    assert not is_hf_host("hub.internal.example")  # a host is not an origin
