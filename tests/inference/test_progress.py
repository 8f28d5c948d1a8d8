"""The progress of a bulk job: a bar with texts, rate and 429s met, shown only when watched."""

from __future__ import annotations

import sys

import pytest

from hfbridge.errors import HFConfigError
from hfbridge.inference import progress as progress_module
from hfbridge.inference.progress import Progress, attached, check_show_progress
from hfbridge.transport.jobs import bulk_job


def test_the_bar_shows_items_and_the_429s_met(capsys):
    with bulk_job(60) as job:
        bar = Progress(100, requests=10, show=True, job=job)
        job.note_backpressure()
        job.note_backpressure()
        bar.advance(40)
        bar.advance(60)
        bar.close()
    err = capsys.readouterr().err
    assert "100/100" in err and "429/503 met: 2" in err


def test_none_means_quiet_without_a_terminal_or_a_notebook(capsys, monkeypatch):
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert not attached()  # pytest captures stderr
    bar = Progress(100, requests=50, show=None)
    bar.advance(100)
    bar.close()
    assert capsys.readouterr().err == ""


def test_none_shows_a_long_job_in_a_notebook(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipykernel", sys)
    short = Progress(10, requests=2, show=None)
    long = Progress(100, requests=50, show=None)
    long.advance(100)
    short.close()
    long.close()
    err = capsys.readouterr().err
    assert err.count("100/100") == 1 and "10/10" not in err


def test_true_without_tqdm_is_a_config_error(monkeypatch):
    monkeypatch.setattr(progress_module, "has_tqdm", lambda: False)
    with pytest.raises(HFConfigError, match="needs tqdm"):
        check_show_progress(True)
    assert check_show_progress(None) is None
