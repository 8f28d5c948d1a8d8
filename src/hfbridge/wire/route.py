"""The route seam: one inference endpoint's wire shapes as a pure object. No I/O.

A :class:`Route` is everything hfbridge knows about one HTTP route, and nothing about how a request
is sent. Chat completions, TGI ``/generate``, hf-inference text generation, OpenAI
``/v1/completions``, OpenAI ``/v1/embeddings`` and feature-extraction are routes; rerank and the
Responses API arrive the same way. One loop (:mod:`hfbridge.inference.service`) serves every
route, sync and async, with the same retries (the transport's), failover between targets, typed
errors and stream checks.

The contract (every callable is pure: no I/O, no clock, no globals that change):

``url(target, stream) -> str``
    Where the request goes: an absolute URL, or a path under the connection's base URL (chat's
    ``"chat/completions"``). Raises :class:`~hfbridge.errors.HFConfigError` when ``target`` cannot
    use the route (TGI without a ``base_url``, say); services call it once at construction so that
    such a setting fails before any request.
``build(request, target, stream) -> body``
    The JSON body for ``target``. The *request* is a value validated once, before any request
    (bad input raises :class:`~hfbridge.errors.HFConfigError` when it is built, never here);
    ``build`` only lays it out for the target (its ``model`` field, the stream flags).
``parse(body, headers, request) -> result``
    A non-streamed answer (its parsed JSON and lower-case headers) into the route's result.
    A body that breaks the route's promise raises :class:`~hfbridge.errors.HFResponseError`.
``fold(request) -> Fold``
    A fresh accumulator for one streamed answer (``None``: the route does not stream). The loop
    feeds it every event with :meth:`Fold.add`, which returns the deltas to hand to the caller at
    once; when the body has ended complete, :meth:`Fold.end` returns the held-back tail and
    :meth:`Fold.result` the same result type ``parse`` gives.
``stream_end``
    The end rule (a :class:`~hfbridge._stream_end.StreamEndRule` value from
    :mod:`hfbridge.wire.stream_end`): whether a body that
    ends without ``[DONE]`` is still complete (``[DONE]`` always completes a stream). The transport
    folds it over every event and, for an incomplete stream, raises
    :class:`~hfbridge.errors.HFStreamError` saying what was missing (the rule's ``expects``), so
    partial output is never passed off as complete. ``None``: only ``[DONE]`` will do.

A :class:`Target` is one attempt's destination: the model the body names, the Hub id and the
provider (for URLs that name them and for error messages), and a self-hosted root or ``None`` for
Hugging Face. The loop tries a request's targets in order and moves to the next one only for an
error whose class says it fails over (:mod:`hfbridge.errors`), and, for a stream, only before its
first event reached the caller.

Adding a route: write ``wire/<name>.py`` with the request value, ``build``, ``parse``, a fold
when it streams, and a module-level ``Route`` constant; then register it by name in
:mod:`hfbridge.inference.routes` (one line). :class:`hfbridge.inference.service.RouteService`
then calls and streams it; an adapter needs nothing route-specific beyond its own conversions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from hfbridge._stream_end import StreamEndRule

RequestT = TypeVar("RequestT")
ResultT = TypeVar("ResultT")
DeltaT = TypeVar("DeltaT")
DeltaT_co = TypeVar("DeltaT_co", covariant=True)
ResultT_co = TypeVar("ResultT_co", covariant=True)

JSONBody = Mapping[str, Any] | list[Any]


@dataclass(frozen=True, slots=True)
class Target:
    """Where one attempt goes.

    Attributes:
        model: the ``model`` value the body carries (``None``: left out, for single-model
            servers); for error messages too.
        model_id: the Hub id without ``:provider`` (for URLs that name the model).
        provider: the provider that serves this attempt on the router, when known.
        base_url: a self-hosted server's root (validated, no trailing slash); ``None`` means
            Hugging Face (the router and its providers).
    """

    model: str | None = None
    model_id: str | None = None
    provider: str | None = None
    base_url: str | None = None

    @property
    def self_hosted(self) -> bool:
        """Whether the attempt goes to a server of the user's (a ``base_url``)."""
        return self.base_url is not None


class Fold(Protocol[DeltaT_co, ResultT_co]):
    """The accumulator of one streamed answer (see the module docstring for the protocol)."""

    def add(self, event: Any) -> Iterable[DeltaT_co]:
        """Take one parsed event; return the deltas it releases (possibly none)."""

    def end(self, headers: Mapping[str, str]) -> Iterable[DeltaT_co]:
        """The body ended, complete: the deltas held back until now."""

    def result(self) -> ResultT_co:
        """Everything received, as the route's result (after :meth:`end`)."""


@dataclass(frozen=True, slots=True)
class Route(Generic[RequestT, ResultT, DeltaT]):
    """One inference route: its URL, request builder, response parser, stream fold and end rule.

    See the module docstring for the contract each callable keeps.
    """

    name: str
    url: Callable[[Target, bool], str]
    build: Callable[[RequestT, Target, bool], JSONBody]
    parse: Callable[[Any, Mapping[str, str], RequestT], ResultT]
    fold: Callable[[RequestT], Fold[DeltaT, ResultT]] | None = None
    stream_end: StreamEndRule | None = None
    method: str = "POST"

    @property
    def streams(self) -> bool:
        """Whether the route can stream its answer."""
        return self.fold is not None
