"""What LangChain's ``dumpd``/``dumps`` may write of an adapter's credentials: names, never values.

The token is written as a reference to ``HF_TOKEN`` only when the model sends to Hugging Face; for
a self-hosted ``base_url`` an explicit key refers to ``HFBRIDGE_BASE_URL_TOKEN``, and a token the
model merely found in the environment is left out (it was never sent there, and ``loads(...,
secrets_from_env=True)`` must not turn it into a key for that server).

Credential headers (``Authorization``, ``x-api-key``, ... in ``default_headers``) are left out, as
they are from pickles: langchain-core (1.x) revives secrets only for top-level constructor
arguments, so a nested reference would come back as a plain dict. Set them again after loading.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hfbridge.inference.credentials import goes_to_hugging_face
from hfbridge.transport.auth import public_headers

_TOKEN_KEYS = ("token", "api_key")


def dump_credentials(data: Any, *, base_url: str | None, explicit_token: bool) -> Any:
    """``Serializable.to_json()`` output with the rules above applied (a new dict)."""
    if not isinstance(data, Mapping) or data.get("type") != "constructor":
        return data
    kwargs = dict(data.get("kwargs") or {})
    if not explicit_token and not goes_to_hugging_face(base_url):
        for key in _TOKEN_KEYS:
            kwargs.pop(key, None)
    headers = kwargs.get("default_headers")
    if isinstance(headers, Mapping):
        kwargs["default_headers"] = public_headers(headers)
    return {**data, "kwargs": kwargs}
