"""The network layer under httpcore for hfbridge's own sync pools: deadlines and reuse.

httpcore asks its network backend for connections and then reads with the timeout httpx passed
down. Wrapping the backend (a public httpcore seam) gives two things httpx lacks:

- deadlines (:class:`~hfbridge.transport._timing.Deadline`): each socket read is shortened so that
  it ends by the request's deadline, so a server trickling bytes cannot outlast it;
- whether the current attempt opened a new connection (:func:`begin_attempt`,
  :func:`opened_connection`), so that a request that failed on a *reused* connection before any
  answer can be recognised (the server closed it while idle) and resent once.

The flag is per thread: a sync request runs on the thread that sends it, start to end.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

_state = threading.local()
_tracked: weakref.WeakSet[httpx.BaseTransport] = weakref.WeakSet()


def tracks(transport: httpx.BaseTransport) -> bool:
    """Whether ``transport`` runs over a :class:`DeadlineBackend` (so reuse can be told)."""
    return transport in _tracked


def begin_attempt() -> None:
    """Mark the start of an attempt on this thread."""
    _state.opened = False


def opened_connection() -> bool:
    """Whether the attempt begun on this thread opened a new connection (else: reused one)."""
    return bool(getattr(_state, "opened", True))


def _bounded(timeout: float | None) -> float | None:
    at = getattr(timeout, "at", None)
    if at is None:
        return timeout
    remaining = at - time.monotonic()
    if remaining <= 0:
        raise httpcore.ReadTimeout(f"no {getattr(timeout, 'what', 'answer')} before the deadline")
    return remaining if timeout is None or remaining < timeout else timeout


class _DeadlineStream(httpcore.NetworkStream):
    __slots__ = ("_inner",)

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """A network backend whose streams honour deadlines and which notes new connections."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        _state.opened = True
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        _state.opened = True
        return _DeadlineStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def install(client: httpx.Client) -> None:
    """Put a :class:`DeadlineBackend` under every httpcore pool of ``client`` (own clients only).

    Its transport and its proxy mounts; a transport of another kind (e.g. a ``MockTransport``) is
    left alone, and so is one whose internals differ (deadlines then rest on per-read timeouts).
    """
    transports = [client._transport, *client._mounts.values()]  # noqa: SLF001 - see docstring
    for transport in transports:
        if transport is None:
            continue
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend) and not isinstance(
            backend, DeadlineBackend
        ):
            pool._network_backend = DeadlineBackend(backend)  # type: ignore[union-attr]  # noqa: SLF001
            _tracked.add(transport)
