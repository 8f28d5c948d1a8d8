"""scripts/realserver.py: what tells one launch configuration from another."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "realserver.py"


def _load():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("realserver_under_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _installed(realserver, root: Path, template: str):  # type: ignore[no-untyped-def]
    root.mkdir(parents=True)
    (root / "template.jinja").write_text(template)
    return dataclasses.replace(realserver.installed_paths(), chat_template=root / "template.jinja")


def test_two_checkouts_of_one_template_share_the_running_server(tmp_path):
    # A CI clone or a second worktree restarted the shared chat server under every other client.
    realserver = _load()
    one = realserver._specs(_installed(realserver, tmp_path / "one", "{{ messages }}"))
    two = realserver._specs(_installed(realserver, tmp_path / "two", "{{ messages }}"))
    changed = realserver._specs(_installed(realserver, tmp_path / "three", "{{ other }}"))

    assert one["chat"].fingerprint == two["chat"].fingerprint
    assert one["chat"].fingerprint != changed["chat"].fingerprint
    assert one["embed"].fingerprint == two["embed"].fingerprint
