"""Credential settings shared by the adapters: secret headers, and the names secrets get in dumps.

A key in ``default_headers`` (``Authorization``, ``x-api-key``, anything naming a key, token,
secret or auth) is as secret as the token: held as :class:`~hfbridge.transport.SecretHeaders`
(masked in ``repr``, left out of pickles and LangChain dumps) and masked in ``model_dump``. A
serialised token names the environment variable it is loaded from: ``HF_TOKEN`` only when the
requests go to Hugging Face, so that loading a dump of a model for a self-hosted server never hands
that server the Hugging Face token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer

from hfbridge._constants import BASE_URL_TOKEN_ENV, TOKEN_ENV
from hfbridge._redact import REDACTED, is_credential_header
from hfbridge._urls import origin_of
from hfbridge.transport.auth import SecretHeaders, is_hf_origin

__all__ = [
    "HeadersSetting",
    "goes_to_hugging_face",
    "masked_headers",
    "token_secret_name",
]


def _as_secret_headers(value: Mapping[str, str] | None) -> SecretHeaders | None:
    return None if value is None else SecretHeaders(value)


def masked_headers(value: Mapping[str, str] | None) -> dict[str, str] | None:
    """``value`` with every credential header's value replaced by ``***``."""
    if value is None:
        return None
    return {k: REDACTED if is_credential_header(k) else v for k, v in value.items()}


HeadersSetting = Annotated[
    dict[str, str] | None,
    AfterValidator(_as_secret_headers),
    PlainSerializer(masked_headers),
]
"""The type of an adapter's ``default_headers``: credential values stay secret."""


def goes_to_hugging_face(base_url: str | None) -> bool:
    """Whether requests with this ``base_url`` go to Hugging Face (``None`` is the router)."""
    return base_url is None or is_hf_origin(origin_of(base_url))


def token_secret_name(base_url: str | None) -> str:
    """The environment variable a dumped token refers to: ``HF_TOKEN`` for Hugging Face only."""
    return TOKEN_ENV if goes_to_hugging_face(base_url) else BASE_URL_TOKEN_ENV
