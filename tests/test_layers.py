"""The layer rules are executable: `make lint` runs import-linter's contracts (pyproject.toml).

These tests show that each kind of rule can fail: a copy of the package with one forbidden import
added breaks exactly the contract that forbids it, and the tree as it is keeps them all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint(src: Path, tmp_path: Path) -> str:
    config = tmp_path / "pyproject.toml"
    shutil.copy(ROOT / "pyproject.toml", config)
    env = {**os.environ, "PYTHONPATH": str(src)}
    result = subprocess.run(  # noqa: S603 - our own tool, our own files
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    return result.stdout + result.stderr


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "hfbridge", src / "hfbridge", ignore=shutil.ignore_patterns("__pycache__"))
    return src


def test_the_tree_keeps_every_contract(tmp_path):
    output = lint(ROOT / "src", tmp_path)
    assert "BROKEN" not in output, output
    assert "0 broken" in output


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("wire/chat.py", "import httpx", "Only the transport imports httpx and aiohttp"),
        ("wire/route.py", "import socket", "wire does no I/O"),
        ("inference/service.py", "import langchain_core", "Only the LangChain adapter imports"),
        ("catalog/spec.py", "import hfbridge.inference.service", "Layers, one direction"),
        ("wire/chat.py", "import hfbridge.transport", "Layers, one direction"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(package_copy, tmp_path, module, line, contract):
    path = package_copy / "hfbridge" / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")
    output = lint(package_copy, tmp_path)
    broken = [text for text in output.splitlines() if text.endswith("BROKEN")]
    assert any(text.startswith(contract) for text in broken), output
