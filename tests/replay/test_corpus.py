"""The corpus itself: provenance, kinds, nothing that must not be kept, and a README that lists it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.replay.harness import RECORDINGS_DIR, load_recordings, script

RECORDINGS = load_recordings()


@pytest.mark.parametrize("recording", RECORDINGS, ids=[r["name"] for r in RECORDINGS])
def test_each_recording_is_well_formed_and_clean(recording):
    corpus = script("replay_corpus")
    path = RECORDINGS_DIR / f"{recording['name']}.json"
    assert path.exists()  # the file is named after the recording
    assert recording["kind"] in corpus.KINDS
    source = recording["source"]
    if "recorded_by" in source:
        assert source["recorded_by"] == "scripts/record.py"
    else:
        assert {"repository", "commit", "path", "entry"} <= set(source)
        assert len(source["commit"]) == 40
    assert isinstance(source["exact"], bool)
    assert recording["response"]["body"]
    assert recording["expect"]["outcome"] in ("ok", "error", "cut")
    assert corpus.leaks(recording) == []


def test_the_expectations_are_the_oracles_reading_of_the_bodies():
    # Nothing hand-edited slips in: re-reading each body gives the stored expectation (give or
    # take the overrides extraction records: message fragments and the think flag).
    corpus = script("replay_corpus")
    for recording in RECORDINGS:
        stored = dict(recording["expect"])
        fresh = corpus.expect_for(recording, think=stored.get("think", False))
        if stored.get("think"):
            fresh["think"] = True
        if "error" in stored and "error" in fresh:
            fresh["error"]["message"] = stored["error"]["message"]
        assert fresh == stored, recording["name"]


def test_the_public_recordings_are_the_extraction_scripts_selection():
    selection = {item["name"] for item in script("replay_extract").SELECTION}
    public = {r["name"] for r in RECORDINGS if "recorded_by" not in r["source"]}
    assert public == selection


def test_the_readme_lists_every_recording():
    readme = (Path(__file__).parent / "README.md").read_text("utf-8")
    missing = [r["name"] for r in RECORDINGS if f"`{r['name']}`" not in readme]
    assert missing == []


def test_recordings_are_stored_as_readable_json():
    for path in RECORDINGS_DIR.glob("*.json"):
        text = path.read_text("utf-8")
        assert text.endswith("\n")
        json.loads(text)
