"""Run one contender in a fresh interpreter (for peak memory and import time) and read its result.

Parent side: :func:`run_child`. Child side: ``python -m benchmarks.child MODULE NAME ARGS_JSON``
calls ``benchmarks.MODULE.child(NAME, ARGS)`` and prints its result as one marked JSON line.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.harness import FAILED, UNAVAILABLE, describe

MARK = "@@bench-result@@"
ROOT = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    """This process's resident memory now, in MiB."""
    with Path("/proc/self/statm").open(encoding="ascii") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB.

    ``VmHWM`` belongs to this program's memory map, unlike ``ru_maxrss``, which a child started by
    fork and exec inherits from its parent when the parent was bigger.
    """
    with Path("/proc/self/status").open(encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(module: str, name: str, args: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run contender ``name`` of figure ``module`` in a new interpreter; its result dict."""
    command = [sys.executable, "-m", "benchmarks.child", module, name, json.dumps(args)]
    try:
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {"status": FAILED, "detail": f"did not finish within {timeout:.0f} s"}
    for line in done.stdout.splitlines():
        if line.startswith(MARK):
            return dict(json.loads(line[len(MARK) :]))
    tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])[:400]
    return {"status": FAILED, "detail": f"exit {done.returncode}: {tail}"}


def main() -> None:
    module_name, name, raw_args = sys.argv[1], sys.argv[2], sys.argv[3]
    module = importlib.import_module(f"benchmarks.{module_name}")
    try:
        result = module.child(name, json.loads(raw_args))
    except ImportError as exc:
        result = {"status": UNAVAILABLE, "detail": describe(exc)}
    except Exception as exc:
        result = {"status": FAILED, "detail": describe(exc)}
    print(MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
