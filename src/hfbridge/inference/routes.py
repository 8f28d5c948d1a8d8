"""The routes hfbridge serves, by name: a route's registration is one line here.

A route lives in its wire module (:mod:`hfbridge.wire.route` describes the contract); this table
names it, and loads the module on first use, so importing one adapter does not import the wire
modules of the others. :class:`~hfbridge.inference.service.RouteService` serves any of them.
"""

from __future__ import annotations

import importlib
from typing import Any

from hfbridge.errors import HFConfigError
from hfbridge.wire.route import Route

_ROUTES: dict[str, str] = {
    # name                        "module:attribute" of the Route
    "chat-completions": "hfbridge.wire.chat_completions:CHAT_COMPLETIONS",
    "tgi": "hfbridge.wire.textgen_routes:TGI",
    "hf-inference-text-generation": "hfbridge.wire.textgen_routes:HF_INFERENCE_TEXT",
    "completions": "hfbridge.wire.textgen_routes:COMPLETIONS",
    "chat-text": "hfbridge.wire.textgen_routes:CHAT_TEXT",
    "openai-embeddings": "hfbridge.wire.embeddings:OPENAI_EMBEDDINGS",
    "feature-extraction": "hfbridge.wire.embeddings:FEATURE_EXTRACTION",
    "rerank-tei": "hfbridge.wire.rerank:RERANK_TEI",
    "rerank-cohere": "hfbridge.wire.rerank:RERANK_COHERE",
    "rerank-text-ranking": "hfbridge.wire.rerank:RERANK_TEXT_RANKING",
    "rerank-text-classification": "hfbridge.wire.rerank:RERANK_TEXT_CLASSIFICATION",
    "responses": "hfbridge.wire.responses:RESPONSES",
}


def register(name: str, location: str) -> None:
    """Name the route at ``location`` (``"package.module:ATTRIBUTE"``)."""
    _ROUTES[name] = location


def route_names() -> list[str]:
    """Every registered route name."""
    return sorted(_ROUTES)


def get_route(name: str) -> Route[Any, Any, Any]:
    """The route registered as ``name``; :class:`HFConfigError` naming the known ones if none."""
    location = _ROUTES.get(name)
    if location is None:
        raise HFConfigError(f"unknown route {name!r}: choose from {', '.join(route_names())}.")
    module, _, attribute = location.partition(":")
    route = getattr(importlib.import_module(module), attribute)
    if not isinstance(route, Route):
        raise TypeError(f"{location} is a {type(route).__name__}, not a Route")  # a wrong entry
    return route
