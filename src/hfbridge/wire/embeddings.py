"""Embeddings on the wire: request bodies, response parsing, and the batching plan. No I/O.

Two routes carry embeddings:

- **feature-extraction** (hf-inference ``.../pipeline/feature-extraction``, TEI ``/embed``):
  ``{"inputs": ..., "normalize": ..., "truncate": ..., "truncation_direction": ...,
  "prompt_name": ...}`` with the parameters at the *root* of the body. The answer is bare numbers
  whose nesting depends on the server (see :func:`parse_feature_extraction`).
- **openai** (``/v1/embeddings`` on TEI, vLLM, llama.cpp, and the together, scaleway and deepinfra
  proxies): ``{"model": ..., "input": [...], "dimensions": ..., "encoding_format": ...}``, answered
  with ``{"data": [{"index": i, "embedding": [...] or base64}, ...]}``.

Token-level answers (a model without pooling) are **mean-pooled** here: the plain average over the
token axis, special tokens included, because the server sends no attention mask and each sequence
arrives unpadded. The pooled vector is then L2-normalised unless the caller set ``normalize=False``,
matching the route's own default (``normalize`` is true unless turned off).
"""

from __future__ import annotations

import base64
import json
import math
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

from hfbridge._urls import hf_inference_url, provider_url
from hfbridge.errors import HFConfigError, HFResponseError
from hfbridge.errors._checks import positive_int
from hfbridge.wire.route import Route, Target

EmbeddingAPI = Literal["openai", "feature-extraction"]
TruncationDirection = Literal["left", "right"]
EncodingFormat = Literal["float", "base64"]

Vector = list[float]

__all__ = [
    "FEATURE_EXTRACTION",
    "OPENAI_EMBEDDINGS",
    "OPENAI_EMBEDDING_PROVIDERS",
    "ROUTES_BY_API",
    "Batch",
    "EmbeddingAPI",
    "EmbeddingParams",
    "EmbeddingRequest",
    "EncodingFormat",
    "Instructions",
    "TruncationDirection",
    "Vector",
    "apply_instruction",
    "body_size",
    "check_flags",
    "check_truncation_direction",
    "feature_extraction_body",
    "instructions_for",
    "json_size",
    "mean_pool",
    "openai_body",
    "parse_feature_extraction",
    "parse_openai_embeddings",
    "plan_batches",
]


# --- parameters ----------------------------------------------------------------------------------


def check_flags(**flags: Any) -> None:
    """Refuse any flag that is set to something other than True or False (HFConfigError)."""
    for name, flag in flags.items():
        if flag is not None and not isinstance(flag, bool):
            raise HFConfigError(f"{name} must be True, False or None, got {flag!r}.")


def check_truncation_direction(value: str | None) -> TruncationDirection | None:
    """``"left"``/``"right"`` in any case, lower-cased; None stays None; else HFConfigError."""
    if value is None:
        return None
    lowered = str(value).lower()
    if lowered not in ("left", "right"):
        raise HFConfigError(f"truncation_direction must be 'left' or 'right', got {value!r}.")
    return "left" if lowered == "left" else "right"


@dataclass(frozen=True, slots=True)
class EmbeddingParams:
    """Optional request parameters; ``None`` means "not sent" (the server's default applies).

    Build it with :meth:`create`, which validates every value.
    """

    normalize: bool | None = None
    truncate: bool | None = None
    truncation_direction: TruncationDirection | None = None
    prompt_name: str | None = None
    dimensions: int | None = None
    encoding_format: EncodingFormat | None = None

    @classmethod
    def create(  # noqa: PLR0913 - one argument per request parameter
        cls,
        *,
        normalize: bool | None = None,
        truncate: bool | None = None,
        truncation_direction: str | None = None,
        prompt_name: str | None = None,
        dimensions: int | None = None,
        encoding_format: str | None = None,
    ) -> EmbeddingParams:
        """Validate the values and return the parameters; :class:`HFConfigError` on a bad one."""
        check_flags(normalize=normalize, truncate=truncate)
        direction = check_truncation_direction(truncation_direction)
        if prompt_name is not None and (not isinstance(prompt_name, str) or not prompt_name):
            raise HFConfigError(
                f"prompt_name must be a non-empty string naming one of the model's "
                f"sentence-transformers prompts (e.g. 'query'), got {prompt_name!r}."
            )
        if dimensions is not None:
            positive_int("dimensions", dimensions)
        fmt: EncodingFormat | None = None
        if encoding_format is not None:
            if encoding_format not in ("float", "base64"):
                raise HFConfigError(
                    f"encoding_format must be 'float' or 'base64', got {encoding_format!r}."
                )
            fmt = "float" if encoding_format == "float" else "base64"
        return cls(normalize, truncate, direction, prompt_name, dimensions, fmt)

    def set_values(self) -> dict[str, Any]:
        """The parameters that were set, in declaration order."""
        values = ((f.name, getattr(self, f.name)) for f in fields(self))
        return {name: value for name, value in values if value is not None}


# --- request bodies ------------------------------------------------------------------------------


def feature_extraction_body(inputs: str | Sequence[str], params: EmbeddingParams) -> dict[str, Any]:
    """The feature-extraction body: ``inputs`` plus every set parameter, all at the root."""
    body: dict[str, Any] = {"inputs": inputs if isinstance(inputs, str) else list(inputs)}
    body.update(
        (key, value) for key, value in params.set_values().items() if key != "encoding_format"
    )
    return body


def openai_body(inputs: Sequence[str], *, model: str, params: EmbeddingParams) -> dict[str, Any]:
    """The OpenAI ``/v1/embeddings`` body: ``model`` first, ``input`` as a list, then options."""
    body: dict[str, Any] = {"model": model, "input": list(inputs)}
    if params.dimensions is not None:
        body["dimensions"] = params.dimensions
    if params.encoding_format is not None:
        body["encoding_format"] = params.encoding_format
    return body


# --- response parsing ----------------------------------------------------------------------------


def _bad(message: str, payload: Any) -> HFResponseError:
    return HFResponseError(message, body=json.dumps(payload)[:500] if payload is not None else "")


def _depth(value: Any) -> int:
    """Nesting depth of a JSON array, following first elements (a number has depth 0)."""
    depth = 0
    while isinstance(value, list):
        depth += 1
        if not value:
            break
        value = value[0]
    return depth


def _vector(row: Any, payload: Any) -> Vector:
    """A list of finite floats, or :class:`HFResponseError`."""
    if not isinstance(row, list) or not row:
        got = "an empty list" if isinstance(row, list) else type(row).__name__
        raise _bad(f"expected an embedding (a non-empty list of numbers), got {got}.", payload)
    if not all(type(x) is float for x in row):
        if not all(type(x) in (float, int) for x in row):
            bad = next(x for x in row if type(x) not in (float, int))
            raise _bad(f"an embedding holds a non-number ({bad!r}).", payload)
        try:
            row = [float(x) for x in row]
        except OverflowError:  # an integer beyond any float
            raise _bad("an embedding holds a number too large for a float.", payload) from None
    vector: Vector = row
    if not math.isfinite(sum(vector)):
        raise _bad("an embedding holds NaN or infinite values.", payload)
    return vector


def mean_pool(tokens: Any, *, normalize: bool = True) -> Vector:
    """Average token vectors into one sentence vector (L2-normalised unless ``normalize=False``)."""
    if not isinstance(tokens, list) or not tokens:
        raise _bad("token-level output holds an empty sequence: nothing to pool.", tokens)
    rows = [_vector(row, tokens) for row in tokens]
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        raise _bad("token vectors of one input differ in length: cannot pool them.", None)
    pooled = [sum(column) / len(rows) for column in zip(*rows, strict=True)]
    if not math.isfinite(sum(pooled)):  # finite token values can still overflow when summed
        raise _bad("pooling the token vectors overflowed: the values are not usable.", None)
    return _l2_normalize(pooled) if normalize else pooled


def _l2_normalize(vector: Vector) -> Vector:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm > 0 else vector


def _same_width(vectors: list[Vector], payload: Any) -> list[Vector]:
    width = len(vectors[0]) if vectors else 0
    if any(len(v) != width for v in vectors):
        sizes = sorted({len(v) for v in vectors})
        raise _bad(f"the embeddings of one answer differ in length ({sizes}).", payload)
    return vectors


def _mismatch(got: int, expected: int, payload: Any) -> HFResponseError:
    return _bad(
        f"the server returned {got} embedding(s) for {expected} input(s): the answer cannot be "
        "matched to the inputs, so none is used.",
        payload,
    )


def _squeeze(value: Any, depth: int) -> Any:
    """Drop leading batch-of-one wrappers until ``value`` is ``depth`` deep (pipelines add one)."""
    while _depth(value) > depth and isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def _pool_tokens(item: Any, normalize: bool, payload: Any) -> Vector:
    tokens = _squeeze(item, 2)
    if _depth(tokens) != 2:  # noqa: PLR2004 - tokens x dimensions
        raise _bad("token-level output of one input is not a list of token vectors.", payload)
    return mean_pool(tokens, normalize=normalize)


def parse_feature_extraction(
    payload: Any, *, count: int, single: bool = False, normalize: bool | None = None
) -> list[Vector]:
    """Turn a feature-extraction answer into one vector per input, whatever its nesting.

    Args:
        payload: the decoded JSON answer.
        count: how many inputs were sent.
        single: True when ``inputs`` was a bare string (then ``count`` is 1).
        normalize: the request's ``normalize``; only ``False`` stops L2-normalising pooled vectors.

    For a list of inputs: depth 2 is one pooled vector per input (TEI ``/embed`` always), depth 3
    token vectors per input (mean-pooled), depth 4 the same with a batch-of-one wrapper per input;
    depth 1 is accepted when a single input was sent. For a bare string: depth 1 is the vector,
    depth 2 token vectors (mean-pooled; a single row is taken as the pooled vector itself), deeper
    answers the same wrapped in batch-of-one lists.
    """
    pool = normalize is not False
    depth = _depth(payload)
    vectors: list[Vector]
    if single:
        value = _squeeze(payload, 2)
        depth = _depth(value)
        if depth == 1:
            vectors = [_vector(value, payload)]
        elif depth == 2 and len(value) == 1:  # noqa: PLR2004 - one pooled row
            vectors = [_vector(value[0], payload)]
        elif depth == 2:  # noqa: PLR2004 - token vectors of the one input
            vectors = [mean_pool(value, normalize=pool)]
        else:
            raise _unexpected_depth(payload, depth)
    elif depth == 1:
        vectors = [_vector(payload, payload)]  # a single vector: right only for a single input
    elif depth == 2:  # noqa: PLR2004 - one pooled vector per input
        vectors = [_vector(row, payload) for row in payload]
    elif depth in (3, 4):
        vectors = [_pool_tokens(item, pool, payload) for item in payload]
    else:
        raise _unexpected_depth(payload, depth)
    if len(vectors) != count:
        raise _mismatch(len(vectors), count, payload)
    return _same_width(vectors, payload)


def _unexpected_depth(payload: Any, depth: int) -> HFResponseError:
    kind = type(payload).__name__ if depth == 0 else f"numbers nested {depth} deep"
    return _bad(
        f"feature-extraction answered with {kind}; expected a vector, one vector per input, or "
        "token vectors per input.",
        payload,
    )


def _decode_base64(data: str, payload: Any) -> Vector:
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError:
        raise _bad("an embedding is a string but not valid base64.", payload) from None
    if not raw or len(raw) % 4:
        raise _bad("a base64 embedding is not a whole number of float32 values.", payload)
    return _vector(list(struct.unpack(f"<{len(raw) // 4}f", raw)), payload)


def parse_openai_embeddings(payload: Any, *, count: int) -> list[Vector]:
    """Turn an OpenAI ``/v1/embeddings`` answer into one vector per input, in input order.

    ``data[].index`` orders the vectors; it must be a permutation of ``0..count-1`` (or absent from
    every item, then the list order is used). Base64 embeddings are little-endian float32.
    """
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise _bad("an OpenAI embeddings answer must be an object with a 'data' list.", payload)
    if len(data) != count:
        raise _mismatch(len(data), count, payload)
    if not all(isinstance(item, dict) and "embedding" in item for item in data):
        raise _bad("every item of 'data' must be an object with an 'embedding'.", payload)
    indices = [item.get("index") for item in data]
    if all(index is None for index in indices):
        ordered = data
    else:
        if sorted(i for i in indices if type(i) is int) != list(range(count)):
            raise _bad(
                f"data[].index must number the inputs 0..{count - 1} exactly once, got {indices}.",
                payload,
            )
        ordered = [item for _, item in sorted(zip(indices, data, strict=True))]
    vectors = [
        _decode_base64(item["embedding"], payload)
        if isinstance(item["embedding"], str)
        else _vector(item["embedding"], payload)
        for item in ordered
    ]
    return _same_width(vectors, payload)


# --- batching plan -------------------------------------------------------------------------------


# --- the routes ----------------------------------------------------------------------------------

OPENAI_EMBEDDING_PROVIDERS: dict[str, str] = {
    "together": "/v1/embeddings",
    "scaleway": "/v1/embeddings",
    "deepinfra": "/v1/openai/embeddings",
}
"""Providers that serve embeddings through an OpenAI-style route on the router's proxy."""


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    """One request's texts (instructions applied) and the route's parameters."""

    texts: Sequence[str]
    params: EmbeddingParams


def _openai_url(target: Target, stream: bool) -> str:  # noqa: ARG001 - embeddings never stream
    if target.base_url is not None:
        return f"{target.base_url}/embeddings"
    provider = target.provider or ""
    if provider not in OPENAI_EMBEDDING_PROVIDERS:
        raise HFConfigError(
            f"provider {provider!r} has no OpenAI-style embeddings route: use one of "
            f"{', '.join(OPENAI_EMBEDDING_PROVIDERS)}, or pass base_url=..."
        )
    return provider_url(provider, OPENAI_EMBEDDING_PROVIDERS[provider])


def _feature_extraction_url(target: Target, stream: bool) -> str:  # noqa: ARG001 - as above
    if target.base_url is not None:
        return target.base_url
    return hf_inference_url(target.model_id or "", "feature-extraction")


def _openai_build(request: EmbeddingRequest, target: Target, stream: bool) -> dict[str, Any]:  # noqa: ARG001
    return openai_body(request.texts, model=target.model or "", params=request.params)


def _feature_extraction_build(
    request: EmbeddingRequest,
    target: Target,  # noqa: ARG001 - a route's build
    stream: bool,  # noqa: ARG001
) -> dict[str, Any]:
    texts = request.texts
    # A lone text goes as a bare string, as the official clients send one input.
    return feature_extraction_body(texts[0] if len(texts) == 1 else texts, request.params)


def _openai_parse(body: Any, headers: Mapping[str, str], request: EmbeddingRequest) -> list[Vector]:  # noqa: ARG001
    return parse_openai_embeddings(body, count=len(request.texts))


def _feature_extraction_parse(
    body: Any,
    headers: Mapping[str, str],  # noqa: ARG001 - a route's parse
    request: EmbeddingRequest,
) -> list[Vector]:
    count = len(request.texts)
    return parse_feature_extraction(
        body, count=count, single=count == 1, normalize=request.params.normalize
    )


OPENAI_EMBEDDINGS: Route[EmbeddingRequest, list[Vector], Vector] = Route(
    name="openai-embeddings", url=_openai_url, build=_openai_build, parse=_openai_parse
)
"""OpenAI ``/v1/embeddings``: a self-hosted root's, or a provider's on the router."""

FEATURE_EXTRACTION: Route[EmbeddingRequest, list[Vector], Vector] = Route(
    name="feature-extraction", url=_feature_extraction_url, build=_feature_extraction_build,
    parse=_feature_extraction_parse,
)  # fmt: skip
"""hf-inference feature-extraction, or the exact URL of a TEI ``/embed``-style server."""

ROUTES_BY_API: dict[str, str] = {
    "openai": "openai-embeddings",
    "feature-extraction": "feature-extraction",
}
"""The registered route name of each body format (``api``)."""


def body_size(body: Any) -> int:
    """Bytes of a request body as the transport encodes it (compact UTF-8 JSON)."""
    return len(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def json_size(text: str) -> int:
    """Bytes ``text`` takes in a request body (compact UTF-8 JSON, as the transport encodes it)."""
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8"))


@dataclass(frozen=True, slots=True)
class Batch:
    """Texts sent in one request, with their positions in the caller's input."""

    indices: tuple[int, ...]
    texts: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.indices)

    def split(self) -> tuple[Batch, Batch]:
        """The two halves of this batch (the first one is the larger when the size is odd)."""
        middle = (len(self.indices) + 1) // 2
        return (
            Batch(self.indices[:middle], self.texts[:middle]),
            Batch(self.indices[middle:], self.texts[middle:]),
        )


def plan_batches(
    texts: Sequence[str],
    *,
    batch_size: int,
    max_batch_bytes: int,
    base_bytes: int = 0,
    text_overhead: int = 0,
) -> list[Batch]:
    """Split ``texts`` into consecutive batches within ``batch_size`` and ``max_batch_bytes``.

    ``base_bytes`` is the size of the body without any input; each text adds its JSON size plus a
    separator, plus ``text_overhead`` bytes when the body wraps every text in the same extra JSON
    (a rerank pair repeats its query per text), so a batch's body never exceeds ``max_batch_bytes``.

    A text too large for ``max_batch_bytes`` on its own still gets a batch of its own: the plan
    never drops or reorders inputs. Raises :class:`HFConfigError` for a text that cannot be
    encoded as UTF-8 (a lone surrogate), before any request.
    """
    batches: list[Batch] = []
    indices: list[int] = []
    current = base_bytes
    for index, text in enumerate(texts):
        try:
            size = json_size(text) + text_overhead
        except UnicodeEncodeError as exc:
            raise HFConfigError(
                f"text at index {index} cannot be sent: it is not valid UTF-8 ({exc.reason}). "
                "Remove lone surrogate characters from it."
            ) from None
        separator = 1 if indices else 0
        if indices and (len(indices) >= batch_size or current + separator + size > max_batch_bytes):
            batches.append(Batch(tuple(indices), tuple(texts[i] for i in indices)))
            indices, current, separator = [], base_bytes, 0
        indices.append(index)
        current += separator + size
    if indices:
        batches.append(Batch(tuple(indices), tuple(texts[i] for i in indices)))
    return batches


# --- instructions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Instructions:
    """Prefixes a model family expects before queries and documents (``""``: none)."""

    query: str = ""
    document: str = ""
    family: str = ""


_RETRIEVE = "Given a web search query, retrieve relevant passages that answer the query"
_BGE_EN = "Represent this sentence for searching relevant passages: "

# Checked in order against the model name (the part after the last '/'), lower-cased: instruct
# variants come before their base family.
_BGE_ZH = "为这个句子生成表示以用于检索相关文章\uff1a"  # ends with a full-width colon
_KNOWN_FAMILIES: tuple[tuple[re.Pattern[str], Instructions], ...] = (
    (
        re.compile(r"e5-.*instruct|e5-mistral"),
        Instructions(f"Instruct: {_RETRIEVE}\nQuery: ", "", "e5-instruct"),
    ),
    (re.compile(r"(^|[-_])e5([-_]|$)"), Instructions("query: ", "passage: ", "e5")),
    (re.compile(r"^bge-.*-en"), Instructions(_BGE_EN, "", "bge-en")),
    (re.compile(r"^bge-.*-zh"), Instructions(_BGE_ZH, "", "bge-zh")),
    (
        re.compile(r"^nomic-embed-text"),
        Instructions("search_query: ", "search_document: ", "nomic"),
    ),
    (re.compile(r"^mxbai-embed-large"), Instructions(_BGE_EN, "", "mxbai")),
    (
        re.compile(r"^qwen3-embedding"),
        Instructions(f"Instruct: {_RETRIEVE}\nQuery:", "", "qwen3-embedding"),
    ),
)


def instructions_for(model: str) -> Instructions:
    """The query/document prefixes for a known model family, else empty ones."""
    name = model.rsplit("/", 1)[-1].lower()
    for pattern, instructions in _KNOWN_FAMILIES:
        if pattern.search(name):
            return instructions
    return Instructions()


def apply_instruction(texts: Sequence[str], instruction: str) -> list[str]:
    """``texts`` with ``instruction`` prepended to each (unchanged when it is empty)."""
    return [instruction + text for text in texts] if instruction else list(texts)
