"""A connection: the client pair built once from a frozen snapshot of the connection settings.

Every service stands on one :class:`Connection`; every adapter builds it from its connection fields
(:mod:`hfbridge.inference.settings`) through :meth:`Connection.create`, the one place where
settings become clients. Services also accept the settings as keyword arguments
(:class:`ConnectionArgs`) and build their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from typing_extensions import Unpack

from hfbridge._urls import validate_base_url
from hfbridge.transport import AsyncHFClient, ClientConfig, HFClient
from hfbridge.transport.config import ClientSettings


class ConnectionArgs(ClientSettings, total=False):
    """Everything :meth:`Connection.create` takes: the client settings, and what is injected."""

    client: HFClient | None
    """A client to send through (its own settings apply), instead of one built from these."""
    async_client: AsyncHFClient | None
    """An async client to send through, likewise."""
    transport: Any
    """An httpx transport for the clients built here (``httpx.MockTransport`` in tests)."""
    aliases: Mapping[str, str] | None
    """Per-instance alias overrides (``{"default": "org/name"}``)."""
    catalog: Any
    """The catalog used for routing (default: the process-wide one)."""


_INJECTED = ("client", "async_client", "transport", "aliases", "catalog")


@dataclass(frozen=True, eq=False, slots=True)
class Connection:
    """The clients one adapter sends through, and the settings that are not the clients'.

    ``base_url`` is the self-hosted root when there is one (``None``: Hugging Face's router and
    providers); the clients' own base URL may differ when they were injected.
    """

    client: HFClient
    async_client: AsyncHFClient
    base_url: str | None = None
    aliases: Mapping[str, str] | None = None
    catalog: Any = None
    sync_only: bool = False
    """A sync client was given without an async one: it must carry every sync request."""

    @classmethod
    def create(cls, **settings: Unpack[ConnectionArgs]) -> Connection:
        """Validate the settings and build the clients (an injected client keeps its own).

        Raises :class:`~hfbridge.errors.HFConfigError` for a bad value, before any request.
        """
        values: dict[str, Any] = dict(settings)
        injected = {name: values.pop(name, None) for name in _INJECTED}
        client_settings = cast("ClientSettings", values)
        base_url = client_settings.get("base_url")
        root = validate_base_url(base_url) if base_url is not None else None
        client: HFClient | None = injected["client"]
        async_client: AsyncHFClient | None = injected["async_client"]
        transport = injected["transport"]
        # Built even when a client is injected: a bad value fails here, whatever is used.
        config = ClientConfig.create(**client_settings)
        if client is not None:
            config = client.config
        return cls(
            client=client or HFClient(config, transport=transport),
            async_client=async_client or AsyncHFClient(config, transport=transport),
            base_url=root,
            aliases=injected["aliases"],
            catalog=injected["catalog"],
            sync_only=client is not None and async_client is None,
        )

    @property
    def config(self) -> ClientConfig:
        """The sync client's settings (token, headers, timeout, retries)."""
        return self.client.config

    @property
    def self_hosted(self) -> bool:
        """Whether requests go to a server of the user's (``base_url``)."""
        return self.base_url is not None

    def __repr__(self) -> str:
        return f"Connection(base_url={self.base_url!r}, {self.config!r})"


class OnConnection:
    """A service standing on a :class:`Connection`: its clients, by the names services use."""

    connection: Connection

    @property
    def client(self) -> HFClient:
        """The sync client requests go through."""
        return self.connection.client

    @property
    def async_client(self) -> AsyncHFClient:
        """The async client requests go through."""
        return self.connection.async_client
