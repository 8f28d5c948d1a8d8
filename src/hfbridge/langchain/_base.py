"""What every LangChain adapter adds to the shared settings: LangChain's serialisation hooks.

The settings, the service lifecycle, copies and pickles are
:class:`~hfbridge.inference.settings.ServiceHolder`'s. This is a plain mixin (no fields, so no
pydantic model to build at import), placed before LangChain's base class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

from hfbridge.errors import HFConfigError
from hfbridge.inference.credentials import token_secret_name
from hfbridge.inference.settings import ServiceHolder
from hfbridge.langchain._secrets import dump_credentials

if TYPE_CHECKING:
    from langchain_core.language_models import LangSmithParams

MODEL_PROVIDER = "huggingface"
"""``response_metadata["model_provider"]`` and ``ls_provider`` of every message and trace."""


class LangChainSerialisation:
    """``lc_secrets``, ``to_json`` and ``is_lc_serializable`` for an adapter."""

    @property
    def lc_secrets(self) -> dict[str, str]:
        """Serialised dumps name the token's environment variable, never its value.

        ``HF_TOKEN`` for Hugging Face; ``HFBRIDGE_BASE_URL_TOKEN`` for a self-hosted ``base_url``.
        """
        return {"token": token_secret_name(cast("ServiceHolder[Any]", self).base_url)}

    def to_json(self) -> Any:
        """The ``dumpd``/``dumps`` form: credentials as references (see ``langchain/_secrets``)."""
        holder = cast("ServiceHolder[Any]", self)
        # The framework's base class (after this mixin in the adapter's bases) writes the dump.
        dumped = super().to_json()  # type: ignore[misc]
        return dump_credentials(
            dumped, base_url=holder.base_url, explicit_token=holder.explicit_token
        )

    @classmethod
    def is_lc_serializable(cls) -> bool:
        """The adapter can be dumped and loaded with ``langchain_core.load``."""
        return True


def refuse_unknown(cls: type[ServiceHolder[Any]], data: dict[str, Any], hint: str) -> None:
    """Raise :class:`HFConfigError` naming the arguments ``cls`` does not take, with ``hint``."""
    unknown = sorted(set(data) - cls.accepted_arguments())
    if unknown:
        raise HFConfigError(f"{cls.__name__} got unknown argument(s) {unknown}: {hint}")


def ls_params(
    model_name: str,
    model_type: Literal["chat", "llm"],
    temperature: float | None,
    max_tokens: int | None,
    stop: Sequence[str],
) -> LangSmithParams:
    """What LangSmith records about a call; unset values are left out."""
    from langchain_core.language_models import LangSmithParams  # noqa: PLC0415 - in the floor

    params = LangSmithParams(
        ls_provider=MODEL_PROVIDER, ls_model_name=model_name, ls_model_type=model_type
    )
    if temperature is not None:
        params["ls_temperature"] = temperature
    if max_tokens is not None:
        params["ls_max_tokens"] = max_tokens
    if stop:
        params["ls_stop"] = list(stop)
    return params
