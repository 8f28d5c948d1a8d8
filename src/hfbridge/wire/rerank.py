"""Reranking on the wire: request bodies, answer parsing, and each format as a route. No I/O.

A reranker scores each document against one query. Four body formats carry it; each is a
:class:`RerankFormat` in :data:`FORMATS` (where it goes, what it accepts, how to build and read it):

- ``tei``: TEI ``POST /rerank`` ``{"query", "texts", "raw_scores"?, "truncate"?,
  "truncation_direction"?, "return_text"?}``, answered with ``[{"index", "score", "text"?}]``: one
  entry per text, sorted by score, best first. No ``top_n``. llama.cpp's ``llama-server
  --reranking`` answers the same body the same way (it also applies a ``top_n``).
- ``cohere``: ``POST /v1/rerank`` as Cohere, Jina, vLLM and llama-server serve it: ``{"model",
  "query", "documents", "top_n"?, "return_documents"?}``, answered with ``{"results": [{"index",
  "relevance_score", "document"?}], "usage"?}``, best first, at most ``top_n`` results.
- ``text-ranking``: hf-inference ``POST .../models/{id}/pipeline/text-ranking`` ``{"inputs":
  {"query", "texts"}}``, answered like TEI (the huggingface-inference-toolkit wraps the same list
  as ``{"scores": [...]}``; both are read).
- ``text-classification``: hf-inference ``POST .../models/{id}`` for a cross-encoder served as a
  text classifier: ``{"inputs": [{"text": query, "text_pair": document}, ...]}``, answered with one
  ``{"label", "score"}`` per pair (or a list of them per pair).

Scores are whatever the server computes: TEI and hf-inference apply a sigmoid unless
``raw_scores``; llama-server sends the model's raw output. Only their order is comparable across
servers.

One request carries one batch (:class:`RerankBatchRequest`) and its answer is read into a
:class:`BatchAnswer` with batch-local indexes. Each format's :meth:`RerankFormat.url`,
:meth:`RerankFormat.build` and :meth:`RerankFormat.parse` keep the route seam's contract
(``url(target, stream)``, ``build(request, target, stream)``, ``parse(body, headers, request)``);
rerank answers never stream. Validating a job, planning its batches and merging their answers is
:mod:`hfbridge.wire.rerank_job`. An answer that cannot be matched to its documents raises
:class:`~hfbridge.errors.HFResponseError`; nothing partial is returned.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal, Protocol
from urllib.parse import quote

from hfbridge._constants import HF_INFERENCE_PROVIDER, ROUTER_URL
from hfbridge.errors import HFConfigError, HFResponseError
from hfbridge.errors._checks import positive_int
from hfbridge.wire.embeddings import TruncationDirection, check_flags, check_truncation_direction
from hfbridge.wire.route import Route

RerankAPI = Literal["tei", "cohere", "text-ranking", "text-classification"]

__all__ = [
    "FORMATS",
    "RERANK_COHERE",
    "RERANK_TEI",
    "RERANK_TEXT_CLASSIFICATION",
    "RERANK_TEXT_RANKING",
    "AnswerParser",
    "BatchAnswer",
    "BodyBuilder",
    "RerankAPI",
    "RerankBatchRequest",
    "RerankFormat",
    "RerankParams",
    "RerankResult",
    "RerankTarget",
    "check_params",
    "cohere_body",
    "expected_results",
    "parse_cohere",
    "parse_tei",
    "parse_text_classification",
    "parse_text_ranking",
    "tei_body",
    "text_classification_body",
    "text_ranking_body",
]


# --- parameters ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RerankParams:
    """Optional request parameters; ``None`` means "not sent" (the server's default applies).

    ``top_n`` is applied to the merged ranking whatever the format; the ``cohere`` format also sends
    it with each batch (each batch's best ``top_n`` contain the overall best ``top_n``).
    ``return_documents`` is TEI's ``return_text``; the echoed texts are never needed (the caller
    has them) and are ignored when read. ``label`` names the class whose score means "relevant"
    when a text-classification model answers with several labels per pair.

    Build it with :meth:`create`, which validates every value.
    """

    top_n: int | None = None
    raw_scores: bool | None = None
    truncate: bool | None = None
    truncation_direction: TruncationDirection | None = None
    return_documents: bool | None = None
    label: str | None = None

    @classmethod
    def create(  # noqa: PLR0913 - one argument per request parameter
        cls,
        *,
        top_n: int | None = None,
        raw_scores: bool | None = None,
        truncate: bool | None = None,
        truncation_direction: str | None = None,
        return_documents: bool | None = None,
        label: str | None = None,
    ) -> RerankParams:
        """Validate the values and return the parameters; :class:`HFConfigError` on a bad one."""
        if top_n is not None:
            positive_int("top_n", top_n, meaning="how many of the best documents to keep; None "
                         "keeps them all")  # fmt: skip
        check_flags(raw_scores=raw_scores, truncate=truncate, return_documents=return_documents)
        direction = check_truncation_direction(truncation_direction)
        if label is not None and (not isinstance(label, str) or not label):
            raise HFConfigError(
                f"label must be a non-empty class name of the model (e.g. 'LABEL_1'), "
                f"got {label!r}."
            )
        return cls(top_n, raw_scores, truncate, direction, return_documents, label)

    def set_names(self) -> list[str]:
        """Names of the parameters that were set, in declaration order."""
        return [field.name for field in fields(self) if getattr(self, field.name) is not None]


# --- request bodies ------------------------------------------------------------------------------


def tei_body(
    query: str, texts: Sequence[str], *, model: str = "", params: RerankParams
) -> dict[str, Any]:
    """The TEI ``/rerank`` body (``model`` is not part of it: a TEI server serves one model)."""
    del model
    body: dict[str, Any] = {"query": query, "texts": list(texts)}
    if params.raw_scores is not None:
        body["raw_scores"] = params.raw_scores
    if params.truncate is not None:
        body["truncate"] = params.truncate
    if params.truncation_direction is not None:
        body["truncation_direction"] = params.truncation_direction
    if params.return_documents is not None:
        body["return_text"] = params.return_documents
    return body


def cohere_body(
    query: str, texts: Sequence[str], *, model: str = "", params: RerankParams
) -> dict[str, Any]:
    """The Cohere/Jina-style ``/v1/rerank`` body: ``model`` first (left out when empty)."""
    body: dict[str, Any] = {"model": model} if model else {}
    body["query"] = query
    body["documents"] = list(texts)
    if params.top_n is not None:
        body["top_n"] = min(params.top_n, len(texts)) if texts else params.top_n
    if params.return_documents is not None:
        body["return_documents"] = params.return_documents
    return body


def text_ranking_body(
    query: str, texts: Sequence[str], *, model: str = "", params: RerankParams
) -> dict[str, Any]:
    """The hf-inference text-ranking body: query and texts under ``inputs``, nothing else."""
    del model, params
    return {"inputs": {"query": query, "texts": list(texts)}}


def text_classification_body(
    query: str, texts: Sequence[str], *, model: str = "", params: RerankParams
) -> dict[str, Any]:
    """The hf-inference text-classification body: one ``{text, text_pair}`` pair per document.

    ``raw_scores=True`` asks for the logits (``function_to_apply: "none"``); otherwise the pipeline
    applies its default (a sigmoid for a one-label cross-encoder).
    """
    del model
    body: dict[str, Any] = {"inputs": [{"text": query, "text_pair": text} for text in texts]}
    if params.raw_scores is not None:
        body["parameters"] = {"function_to_apply": "none" if params.raw_scores else "sigmoid"}
    return body


# --- answers -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RerankResult:
    """One scored document: its position (in the batch, or in the caller's list) and its score."""

    index: int
    score: float


@dataclass(frozen=True, slots=True)
class BatchAnswer:
    """One batch's answer: results with batch-local indexes, and the tokens billed if reported."""

    results: tuple[RerankResult, ...]
    total_tokens: int | None = None


def _bad(message: str, payload: Any) -> HFResponseError:
    try:
        shown = json.dumps(payload)[:500] if payload is not None else ""
    except ValueError:  # a value json cannot write back (e.g. a circular structure)
        shown = repr(payload)[:500]
    return HFResponseError(message, body=shown)


def _index(value: Any, count: int, seen: set[int], payload: Any) -> int:
    if type(value) is not int:
        raise _bad(f"a rerank result has index {value!r}; expected an integer.", payload)
    if not 0 <= value < count:
        raise _bad(
            f"a rerank result has index {value}, but only {count} document(s) were sent: the "
            "answer cannot be matched to the documents, so none is used.",
            payload,
        )
    if value in seen:
        raise _bad(
            f"index {value} appears twice in the rerank answer: the answer cannot be matched to "
            "the documents, so none is used.",
            payload,
        )
    seen.add(value)
    return value


def _score(value: Any, payload: Any) -> float:
    if type(value) not in (float, int):
        raise _bad(f"a rerank score is {value!r}; expected a number.", payload)
    try:
        score = float(value)
    except OverflowError:  # an integer beyond any float
        raise _bad("a rerank score is too large for a float.", payload) from None
    if not math.isfinite(score):
        raise _bad(f"a rerank score is {score}: the server's scores are not usable.", payload)
    return score


def _too_few(got: int, expected: int, count: int, payload: Any) -> HFResponseError:
    wanted = f"{expected}" if expected == count else f"at least {expected} (top_n)"
    return _bad(
        f"the server returned {got} score(s) for {count} document(s), expected {wanted}: "
        "documents would go unscored, so none is used.",
        payload,
    )


def _ranked_list(items: Any, *, count: int, score_key: str, payload: Any) -> list[RerankResult]:
    """Read ``[{"index": i, score_key: s}, ...]`` covering all ``count`` documents."""
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise _bad(
            f"a rerank answer must be a list of objects with 'index' and '{score_key}'.", payload
        )
    if len(items) != count:
        if len(items) < count:
            raise _too_few(len(items), count, count, payload)
        raise _bad(
            f"the server returned {len(items)} scores for {count} document(s): the answer cannot "
            "be matched to the documents, so none is used.",
            payload,
        )
    return _results(items, count=count, score_key=score_key, payload=payload)


def _results(
    items: list[dict[str, Any]], *, count: int, score_key: str, payload: Any
) -> list[RerankResult]:
    seen: set[int] = set()
    results = []
    for item in items:
        if "index" not in item or score_key not in item:
            raise _bad(f"every rerank result needs 'index' and '{score_key}'.", payload)
        results.append(
            RerankResult(
                _index(item["index"], count, seen, payload), _score(item[score_key], payload)
            )
        )
    return results


def parse_tei(payload: Any, *, count: int, params: RerankParams | None = None) -> BatchAnswer:
    """Read a TEI ``/rerank`` answer: one ``{index, score}`` per document, in any order."""
    del params
    results = _ranked_list(payload, count=count, score_key="score", payload=payload)
    return BatchAnswer(tuple(results))


def parse_text_ranking(
    payload: Any, *, count: int, params: RerankParams | None = None
) -> BatchAnswer:
    """Read an hf-inference text-ranking answer: TEI's list, or the toolkit's ``{"scores": []}``."""
    del params
    items = payload.get("scores") if isinstance(payload, dict) else payload
    return BatchAnswer(tuple(_ranked_list(items, count=count, score_key="score", payload=payload)))


def expected_results(count: int, params: RerankParams, *, sends_top_n: bool) -> int:
    """How many results a batch of ``count`` documents must at least come back with."""
    if sends_top_n and params.top_n is not None:
        return min(params.top_n, count)
    return count


def _total_tokens(payload: Mapping[str, Any]) -> int | None:
    """``usage.total_tokens`` (or ``prompt_tokens``) when reported as a count; else None."""
    usage = payload.get("usage")
    if not isinstance(usage, dict):
        return None
    for key in ("total_tokens", "prompt_tokens"):
        value = usage.get(key)
        if type(value) is int and value >= 0:
            return value
    return None


def parse_cohere(payload: Any, *, count: int, params: RerankParams | None = None) -> BatchAnswer:
    """Read a Cohere/Jina-style answer: ``results[]`` of ``{index, relevance_score}``, maybe cut.

    A batch sent with ``top_n`` may come back with ``min(top_n, count)`` results; a server that
    ignores ``top_n`` and returns them all is fine too. Fewer is an error.
    """
    params = params or RerankParams()
    items = payload.get("results") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise _bad(
            "a /v1/rerank answer must be an object with a 'results' list of objects.", payload
        )
    expected = expected_results(count, params, sends_top_n=True)
    if len(items) < expected:
        raise _too_few(len(items), expected, count, payload)
    if len(items) > count:
        raise _bad(
            f"the server returned {len(items)} results for {count} document(s): the answer "
            "cannot be matched to the documents, so none is used.",
            payload,
        )
    results = _results(items, count=count, score_key="relevance_score", payload=payload)
    return BatchAnswer(tuple(results), _total_tokens(payload))


def _pair_score(entry: Any, position: int, label: str | None, payload: Any) -> float:
    """The relevance score of one pair's classification (one label, or the named one)."""
    while isinstance(entry, list) and len(entry) == 1 and isinstance(entry[0], list):
        entry = entry[0]  # a batch-of-one wrapper
    labels = entry if isinstance(entry, list) else [entry]
    if not labels or not all(isinstance(item, dict) and "score" in item for item in labels):
        raise _bad(
            f"the classification of pair {position} is not a list of {{label, score}} objects.",
            payload,
        )
    if label is not None:
        for item in labels:
            if item.get("label") == label:
                return _score(item["score"], payload)
        names = ", ".join(repr(item.get("label")) for item in labels)
        raise _bad(
            f"the classification of pair {position} has no label {label!r} (it has {names}): "
            "check the model's labels.",
            payload,
        )
    if len(labels) != 1:
        names = ", ".join(repr(item.get("label")) for item in labels)
        raise _bad(
            f"the model answered {len(labels)} labels per pair ({names}): set label= to the one "
            "that means 'relevant'.",
            payload,
        )
    return _score(labels[0]["score"], payload)


def parse_text_classification(
    payload: Any, *, count: int, params: RerankParams | None = None
) -> BatchAnswer:
    """Read a text-classification answer for ``count`` pairs, in the order they were sent."""
    label = params.label if params is not None else None
    if isinstance(payload, dict) and count == 1:
        payload = [payload]  # a single pair may come back unwrapped
    if not isinstance(payload, list):
        raise _bad("a text-classification answer must be a list, one entry per pair.", payload)
    if len(payload) != count:
        if len(payload) < count:
            raise _too_few(len(payload), count, count, payload)
        raise _bad(
            f"the server returned {len(payload)} classifications for {count} pair(s): the "
            "answer cannot be matched to the documents, so none is used.",
            payload,
        )
    return BatchAnswer(
        tuple(
            RerankResult(position, _pair_score(entry, position, label, payload))
            for position, entry in enumerate(payload)
        )
    )


# --- formats -------------------------------------------------------------------------------------

BodyBuilder = Callable[..., dict[str, Any]]
AnswerParser = Callable[..., BatchAnswer]


class RerankTarget(Protocol):
    """Where one request goes (the route seam's ``Target`` has these attributes)."""

    @property
    def model(self) -> str | None:
        """The ``model`` field of the body (``None``: left out)."""

    @property
    def model_id(self) -> str | None:
        """The Hub id, for hf-inference URLs."""

    @property
    def base_url(self) -> str | None:
        """A self-hosted server's root (``None``: Hugging Face)."""


@dataclass(frozen=True, slots=True)
class RerankBatchRequest:
    """One request's worth of a rerank job: the query, one batch of texts, the parameters.

    Built from a validated job (:meth:`hfbridge.wire.rerank_job.RerankJob.request`), so it is
    never checked again.
    """

    query: str
    texts: tuple[str, ...]
    params: RerankParams


def _root(base_url: str) -> str:
    """A self-hosted base URL without a trailing ``/v1`` (TEI and llama-server serve both roots)."""
    base = base_url.rstrip("/")
    return base.removesuffix("/v1")


@dataclass(frozen=True, slots=True)
class RerankFormat:
    """One rerank wire format: where it goes, what it accepts, how it is written and read.

    ``path`` follows the server's root (``tei``, ``cohere``) or the hf-inference model URL
    (``text-ranking``; ``""`` for ``text-classification``). ``build_body(query, texts, *, model,
    params)`` writes a body and ``parse_answer(payload, *, count, params)`` reads one batch's
    answer; :meth:`url`, :meth:`build` and :meth:`parse` are the same in the route seam's shape.
    Rerank answers are plain JSON: no format streams.
    """

    api: RerankAPI
    path: str
    accepts: frozenset[str]
    sends_top_n: bool
    hugging_face: bool
    build_body: BodyBuilder
    parse_answer: AnswerParser
    streams: bool = False

    def url(self, target: RerankTarget, stream: bool = False) -> str:
        """The request URL for ``target``; HFConfigError when the format cannot reach it.

        ``tei`` and ``cohere`` go to a self-hosted server (a trailing ``/v1`` of its base URL is
        dropped: the routes sit at the root). The hf-inference formats go to the router by model
        id, or to a ``base_url`` as given (a dedicated endpoint serves one model at its root).
        """
        del stream  # rerank answers never stream
        if target.base_url is not None:
            if not self.hugging_face:
                return _root(target.base_url) + self.path
            return target.base_url.rstrip("/")
        if not self.hugging_face:
            raise HFConfigError(
                f"the {self.api!r} rerank format needs the base_url of a self-hosted server (TEI, "
                "vLLM, llama-server); on Hugging Face use 'text-ranking' or "
                "'text-classification' with a model id."
            )
        if not target.model_id:
            raise HFConfigError(f"the {self.api!r} rerank format needs a model id.")
        model_url = (
            f"{ROUTER_URL}/{HF_INFERENCE_PROVIDER}/models/{quote(target.model_id, safe='/')}"
        )
        return model_url + self.path

    def build(
        self, request: RerankBatchRequest, target: RerankTarget, stream: bool = False
    ) -> dict[str, Any]:
        """The body of ``request`` for ``target`` (its ``model`` goes where the format has one)."""
        del stream
        return self.build_body(
            request.query, request.texts, model=target.model or "", params=request.params
        )

    def parse(
        self, body: Any, headers: Mapping[str, str], request: RerankBatchRequest
    ) -> BatchAnswer:
        """Read the answer to ``request``: every text scored (or ``top_n`` of them)."""
        del headers
        return self.parse_answer(body, count=len(request.texts), params=request.params)


FORMATS: Mapping[RerankAPI, RerankFormat] = {
    "tei": RerankFormat(
        "tei",
        "/rerank",
        frozenset({"top_n", "raw_scores", "truncate", "truncation_direction", "return_documents"}),
        sends_top_n=False,
        hugging_face=False,
        build_body=tei_body,
        parse_answer=parse_tei,
    ),
    "cohere": RerankFormat(
        "cohere",
        "/v1/rerank",
        frozenset({"top_n", "return_documents"}),
        sends_top_n=True,
        hugging_face=False,
        build_body=cohere_body,
        parse_answer=parse_cohere,
    ),
    "text-ranking": RerankFormat(
        "text-ranking",
        "/pipeline/text-ranking",
        frozenset({"top_n"}),
        sends_top_n=False,
        hugging_face=True,
        build_body=text_ranking_body,
        parse_answer=parse_text_ranking,
    ),
    "text-classification": RerankFormat(
        "text-classification",
        "",
        frozenset({"top_n", "raw_scores", "label"}),
        sends_top_n=False,
        hugging_face=True,
        build_body=text_classification_body,
        parse_answer=parse_text_classification,
    ),
}
"""Every rerank wire format by name."""


def check_params(fmt: RerankFormat, params: RerankParams) -> None:
    """Refuse parameters ``fmt`` cannot send, naming the formats that can (HFConfigError)."""
    refused = [name for name in params.set_names() if name not in fmt.accepts]
    if not refused:
        return
    name = refused[0]
    able = [api for api, other in FORMATS.items() if name in other.accepts]
    raise HFConfigError(
        f"{name} cannot be sent with the {fmt.api!r} rerank format; formats that take it: "
        f"{', '.join(able)}."
    )


# --- routes --------------------------------------------------------------------------------------


def _route(api: RerankAPI) -> Route[RerankBatchRequest, BatchAnswer, None]:
    fmt = FORMATS[api]
    return Route(name=f"rerank-{api}", url=fmt.url, build=fmt.build, parse=fmt.parse)


RERANK_TEI = _route("tei")
"""TEI ``POST /rerank`` (and llama-server's same route) as a route of the seam."""
RERANK_COHERE = _route("cohere")
"""Cohere/Jina-style ``POST /v1/rerank`` (vLLM, llama-server, providers) as a route."""
RERANK_TEXT_RANKING = _route("text-ranking")
"""hf-inference ``.../pipeline/text-ranking`` as a route."""
RERANK_TEXT_CLASSIFICATION = _route("text-classification")
"""hf-inference text classification of (query, document) pairs as a route."""
