"""README.md stays true: its examples run, its alias files load, its tables name what exists.

Blocks marked ``<!-- readme-test: run -->`` run as a user would run them (a fresh ``python``),
pointed at the real local servers through ``HFBRIDGE_CHAT_URL`` / ``HFBRIDGE_EMBED_URL``. Blocks
marked ``<!-- readme-test: hfbridge.toml -->`` / ``pyproject.toml`` are written to a directory
and loaded by the alias machinery. The error and configuration tables are checked against the
code.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import hfbridge.errors
from hfbridge.catalog import alias_sources

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
MARKER = re.compile(r"^<!-- readme-test: (\S+) -->\n```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
EXAMPLE_TIMEOUT = 240  # seconds: imports, and one or two small calls on a 2-core CI machine


def marked(kind: str) -> list[str]:
    return [body for mark, _, body in MARKER.findall(README) if mark == kind]


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


RUNNABLE = marked("run")


def test_readme_has_a_runnable_example_per_framework():
    assert any("from hfbridge.langchain import" in block for block in RUNNABLE)
    assert any("from hfbridge.llama_index import" in block for block in RUNNABLE)


@pytest.mark.parametrize(
    "block",
    RUNNABLE,
    ids=["langchain" if "hfbridge.langchain" in b else "llama_index" for b in RUNNABLE],
)
def test_readme_example_runs_against_the_local_servers(
    block: str, real_servers, tmp_path: Path
) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HFBRIDGE_ALIASES"}
    }
    env.update(
        HFBRIDGE_CHAT_URL=real_servers.chat_url,
        HFBRIDGE_CHAT_MODEL=real_servers.chat_model,
        HFBRIDGE_EMBED_URL=real_servers.embed_url,
        HFBRIDGE_EMBED_MODEL=real_servers.embed_model,
        HF_HUB_OFFLINE="1",  # the examples must not need the catalog (or any other network)
    )
    result = subprocess.run(
        [sys.executable, "-c", block],
        env=env,
        cwd=tmp_path,  # no alias files from this repository
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "the example printed nothing"


@pytest.mark.parametrize("file_name", ["hfbridge.toml", "pyproject.toml"])
def test_readme_alias_files_load(file_name: str, tmp_path: Path, monkeypatch) -> None:
    [body] = marked(file_name)
    (tmp_path / file_name).write_text(body, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HFBRIDGE_ALIASES", raising=False)
    chat = alias_sources("chat")
    embeddings = alias_sources("embeddings")
    assert chat["default"][0] == "Qwen/Qwen2.5-7B-Instruct"
    assert file_name in chat["default"][1]
    assert chat["fast"][0] == "meta-llama/Llama-3.1-8B-Instruct:cerebras"
    assert embeddings["default"][0] == "BAAI/bge-small-en-v1.5"
    assert chat["agent"][1] == "built-in"  # entries the file does not set keep the built-in


def test_error_table_lists_every_error_class():
    table = set(re.findall(r"^\| `(\w+)` \|", section("Errors"), re.MULTILINE))
    classes = {
        name
        for name in hfbridge.errors.__all__
        if isinstance(getattr(hfbridge.errors, name), type)
    }
    assert table == classes


def test_configuration_table_lists_every_environment_variable_read():
    sources = [*(REPO / "src" / "hfbridge").rglob("*.py"), REPO / "scripts" / "realserver.py"]
    read = {
        name
        for path in sources
        for name in re.findall(
            r'"((?:HF|HFBRIDGE|HUGGING_FACE|XDG)_[A-Z0-9_]+)"', path.read_text(encoding="utf-8")
        )
    }
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", section("Configuration")))
    assert read
    assert read <= documented, f"undocumented: {sorted(read - documented)}"
