"""The catalog's cache: in memory with a TTL, mirrored on disk so a new process does not refetch.

Each entry is a raw JSON answer plus the time it was fetched (wall clock, since it outlives the
process). Memory holds the parsed value; disk holds ``{"key", "fetched_at", "body"}`` per file.
The disk is a best effort: an unreadable, corrupt or unwritable file only costs a refetch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hfbridge._constants import CATALOG_CACHE_DIR_ENV
from hfbridge.transport.auth import hf_home

logger = logging.getLogger("hfbridge.catalog")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_NAME = 80


def default_cache_dir() -> Path:
    """``$HFBRIDGE_CACHE_DIR/catalog``, else ``<HF home>/hfbridge/catalog``."""
    root = os.environ.get(CATALOG_CACHE_DIR_ENV)
    base = Path(os.path.expandvars(root)).expanduser() if root else hf_home() / "hfbridge"
    return base / "catalog"


@dataclass(frozen=True, slots=True)
class Entry:
    """A cached answer: the parsed value and when its body was fetched (epoch seconds)."""

    value: Any
    fetched_at: float


def _file_name(key: str) -> str:
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    readable = _UNSAFE.sub("_", key).strip("_")[:_MAX_NAME]
    return f"{readable}-{digest}.json"


class TTLCache:
    """Parsed answers by key, fresh for ``ttl`` seconds, backed by ``directory`` when given."""

    def __init__(self, *, ttl: float, directory: Path | None, clock: Callable[[], float]) -> None:
        self.ttl = ttl
        self.directory = directory
        self.clock = clock
        self._memory: dict[str, Entry] = {}
        self._lock = threading.Lock()

    def is_fresh(self, entry: Entry) -> bool:
        """True while the entry is younger than the TTL."""
        return 0.0 <= self.clock() - entry.fetched_at < self.ttl

    def get(self, key: str, parse: Callable[[Any], Any]) -> Entry | None:
        """The entry for ``key`` (fresh or stale) from memory, else disk; ``None`` if absent."""
        entry = self._memory.get(key)
        if entry is None:
            entry = self._read(key, parse)
            if entry is not None:
                with self._lock:
                    self._memory.setdefault(key, entry)
        return entry

    def in_memory(self, key: str) -> bool:
        """Whether ``key`` is answered from memory (no disk read)."""
        return key in self._memory

    def peek(self, key: str) -> Entry | None:
        """The in-memory entry for ``key`` (fresh or stale); never reads the disk."""
        return self._memory.get(key)

    def put(self, key: str, body: Any, value: Any) -> Entry:
        """Store a freshly fetched answer in memory and on disk."""
        entry = Entry(value, self.clock())
        with self._lock:
            self._memory[key] = entry
        self._write(key, body, entry.fetched_at)
        return entry

    def _read(self, key: str, parse: Callable[[Any], Any]) -> Entry | None:
        if self.directory is None:
            return None
        path = self.directory / _file_name(key)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            fetched_at = float(record["fetched_at"])
            if record.get("key") != key:
                return None
            return Entry(parse(record["body"]), fetched_at)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            logger.debug("hfbridge: ignoring unreadable catalog cache file %s (%s)", path, exc)
            return None

    def _write(self, key: str, body: Any, fetched_at: float) -> None:
        if self.directory is None:
            return
        record = {"key": key, "fetched_at": fetched_at, "body": body}
        temporary: Path | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            temporary = Path(name)
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(record, stream, separators=(",", ":"))
            temporary.replace(self.directory / _file_name(key))  # atomic: readers see old or new
        except (OSError, TypeError, ValueError) as exc:
            logger.debug(
                "hfbridge: could not write the catalog cache in %s (%s)", self.directory, exc
            )
            if temporary is not None:
                temporary.unlink(missing_ok=True)
