"""Alias tables: short names (``default``, ``large``, ``small``, ``agent``) for model ids.

Resolution order, highest first:

1. ``overrides`` (per call, or per instance: adapters pass their ``aliases=`` the same way);
2. the env var ``HFBRIDGE_ALIASES``: JSON text, or the path of a JSON or TOML file;
3. ``./hfbridge.toml`` (``[chat]`` / ``[embeddings]`` / ``[rerank]`` tables, or the same under
   ``[aliases]``);
4. ``./pyproject.toml`` ``[tool.hfbridge.aliases.chat]`` / ``.embeddings`` / ``.rerank``;
5. the built-in tables below.

Every source has the shape ``{"chat": {"default": "org/name", ...}, "embeddings": {...},
"rerank": {...}}``; a
malformed source or model id raises :class:`~hfbridge.errors.HFConfigError` before any request.
:func:`alias_sources` tells where each entry came from (``hfbridge aliases`` prints it), and
:func:`check_aliases` checks the table against the live catalog.

Built-in picks (checked against the Inference Providers docs, Aug 2026; all served with tool
calling by several providers):

- ``default``: ``meta-llama/Llama-3.1-8B-Instruct`` (Cerebras, Nscale, Novita, ...), a small,
  fast, tool-capable successor of the seed's Meta-Llama-3-8B-Instruct.
- ``large``: ``meta-llama/Llama-3.3-70B-Instruct`` (Groq, Cerebras, Together, ...).
- ``small``: ``Qwen/Qwen2.5-7B-Instruct`` (Together, Featherless, Nscale, ...); the seed's
  Phi-3-mini-4k-instruct has no live provider any more.
- ``agent``: ``openai/gpt-oss-120b`` (Cerebras, Groq, Fireworks, Together, Novita, ...), the
  docs' own tool-calling and structured-output example model.
- embeddings keep the seed's sentence-transformers picks (``all-mpnet-base-v2``,
  ``sentence-t5-large``, ``all-MiniLM-L6-v2``), served by hf-inference.
- rerank: ``default`` ``BAAI/bge-reranker-v2-m3`` (multilingual; a recorded hf-inference answer
  exists, huggingface.js PR #2496), ``large`` ``BAAI/bge-reranker-large``, ``small``
  ``cross-encoder/ms-marco-MiniLM-L6-v2`` (the classic English cross-encoder). The latter two
  could not be checked against the live router from here (no machine reaches huggingface.co).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from hfbridge._constants import ALIASES_ENV, ALIASES_FILE
from hfbridge.catalog.spec import ModelSpec, parse_model_spec

if TYPE_CHECKING:  # the catalog client loads only when aliases are checked against it
    from hfbridge.catalog.catalog import Catalog
from hfbridge.errors import HFConfigError

logger = logging.getLogger("hfbridge.catalog")

ModelKind = Literal["chat", "embeddings", "rerank"]
KINDS: tuple[str, ...] = get_args(ModelKind)
BUILTIN = "built-in"
OVERRIDE = "override"

BUILTIN_ALIASES: dict[ModelKind, dict[str, str]] = {
    "chat": {
        "default": "meta-llama/Llama-3.1-8B-Instruct",
        "large": "meta-llama/Llama-3.3-70B-Instruct",
        "small": "Qwen/Qwen2.5-7B-Instruct",
        "agent": "openai/gpt-oss-120b",
        "vision": "meta-llama/Llama-4-Scout-17B-16E-Instruct",
    },
    "embeddings": {
        "default": "sentence-transformers/all-mpnet-base-v2",
        "large": "sentence-transformers/sentence-t5-large",
        "small": "sentence-transformers/all-MiniLM-L6-v2",
    },
    "rerank": {
        "default": "BAAI/bge-reranker-v2-m3",
        "large": "BAAI/bge-reranker-large",
        "small": "cross-encoder/ms-marco-MiniLM-L6-v2",
    },
}

Tables = dict[str, dict[str, str]]


@dataclass(frozen=True, slots=True)
class AliasLayer:
    """One configuration source and the alias tables it defines."""

    source: str
    tables: Tables


def _validate(raw: Any, source: str) -> Tables:
    """Check ``{"chat": {alias: model}, "embeddings": {...}}`` and every model id in it."""
    if not isinstance(raw, Mapping):
        raise HFConfigError(
            f'{source}: aliases must be a table like {{"chat": {{"default": "org/name"}}}}, '
            f"got {type(raw).__name__}."
        )
    tables: Tables = {}
    for kind, table in raw.items():
        if kind not in KINDS:
            raise HFConfigError(
                f"{source}: unknown alias kind {kind!r}: use {' or '.join(map(repr, KINDS))}."
            )
        if not isinstance(table, Mapping):
            raise HFConfigError(f'{source}: [{kind}] must be a table of alias = "org/name".')
        for alias, model in table.items():
            if not alias or any(char in alias for char in "/: \t"):
                raise HFConfigError(
                    f"{source}: alias name {alias!r} must be a word without '/', ':' or spaces."
                )
            if not isinstance(model, str):
                raise HFConfigError(f"{source}: {kind}.{alias} must be a model id string.")
            try:
                parse_model_spec(model)
            except HFConfigError as exc:
                raise HFConfigError(f"{source}: {kind}.{alias}: {exc.message}") from None
        tables[kind] = dict(table)
    return tables


def _read_toml(path: Path) -> dict[str, Any]:
    # Imported here: most processes have no alias file, and the parser costs ~3 ms to import.
    if sys.version_info >= (3, 11):
        import tomllib  # noqa: PLC0415
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415
    try:
        with path.open("rb") as stream:
            data: dict[str, Any] = tomllib.load(stream)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise HFConfigError(f"cannot read alias file {path}: {exc}.") from None
    return data


def _env_layer(value: str) -> AliasLayer:
    text = value.strip()
    if text.startswith(("{", "[")):
        source = f"env {ALIASES_ENV}"
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise HFConfigError(f"{source} is not valid JSON: {exc}.") from None
        return AliasLayer(source, _validate(raw, source))
    path = Path(os.path.expandvars(text)).expanduser()
    source = f"env {ALIASES_ENV} ({path})"
    if not path.is_file():
        raise HFConfigError(
            f"{ALIASES_ENV}={text!r} is neither JSON text nor an existing file: set it to "
            '\'{"chat": {"default": "org/name"}}\' or to the path of a .json or .toml file.'
        )
    if path.suffix.lower() == ".toml":
        data = _read_toml(path)
        return AliasLayer(source, _validate(data.get("aliases", data), source))
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HFConfigError(f"cannot read alias file {path}: {exc}.") from None
    return AliasLayer(source, _validate(raw, source))


def _stamp(path: str | None) -> float | None:
    if path is None:
        return None
    try:
        return os.stat(path).st_mtime  # noqa: PTH116 - os.stat: this runs on every model lookup
    except OSError:
        return None


@lru_cache(maxsize=16)
def _load_layers(
    env: str | None, cwd: str, stamps: tuple[float | None, float | None, float | None]
) -> tuple[AliasLayer, ...]:
    """Config layers, lowest priority first (cached on the env value, directory and file times)."""
    del stamps  # part of the cache key only: a changed file reloads
    layers: list[AliasLayer] = []
    pyproject = Path(cwd) / "pyproject.toml"
    if pyproject.is_file():
        try:
            tool = _read_toml(pyproject).get("tool", {}).get("hfbridge", {})
        except HFConfigError as exc:  # someone else's file: only our table may fail a call
            logger.debug("hfbridge: ignoring unreadable %s (%s)", pyproject, exc)
            tool = {}
        if "aliases" in tool:
            source = f"{pyproject} [tool.hfbridge.aliases]"
            layers.append(AliasLayer(source, _validate(tool["aliases"], source)))
    config = Path(cwd) / ALIASES_FILE
    if config.is_file():
        data = _read_toml(config)
        raw = (
            data["aliases"] if "aliases" in data else {k: v for k, v in data.items() if k in KINDS}
        )
        layers.append(AliasLayer(str(config), _validate(raw, str(config))))
    if env:
        layers.append(_env_layer(env))
    return tuple(layers)


def config_layers() -> tuple[AliasLayer, ...]:
    """The alias layers from the environment and the current directory, lowest priority first."""
    env = os.environ.get(ALIASES_ENV, "").strip() or None
    # os.path, not pathlib: adapters resolve their model often, and this keeps it a few µs.
    env_file = None if env is None or env.startswith(("{", "[")) else os.path.expanduser(env)  # noqa: PTH111
    cwd = os.getcwd()  # noqa: PTH109
    stamps = (
        _stamp(os.path.join(cwd, "pyproject.toml")),  # noqa: PTH118
        _stamp(os.path.join(cwd, ALIASES_FILE)),  # noqa: PTH118
        _stamp(os.path.expandvars(env_file) if env_file is not None else None),
    )
    return _load_layers(env, cwd, stamps)


def alias_sources(
    kind: ModelKind, overrides: Mapping[str, str] | None = None
) -> dict[str, tuple[str, str]]:
    """``{alias: (model, source)}``: the effective ``kind`` table and where each entry came from."""
    if kind not in KINDS:
        raise HFConfigError(f"unknown alias kind {kind!r}: use {' or '.join(map(repr, KINDS))}.")
    result = {alias: (model, BUILTIN) for alias, model in BUILTIN_ALIASES[kind].items()}
    for layer in config_layers():
        result.update(
            {alias: (model, layer.source) for alias, model in layer.tables.get(kind, {}).items()}
        )
    if overrides:
        validated = _validate({kind: dict(overrides)}, OVERRIDE)[kind]
        result.update({alias: (model, OVERRIDE) for alias, model in validated.items()})
    return result


def alias_table(kind: ModelKind, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The effective alias table for ``kind`` (built-ins, config files, env, then ``overrides``)."""
    return {alias: model for alias, (model, _) in alias_sources(kind, overrides).items()}


def resolve_model(
    model: str | None,
    *,
    kind: ModelKind,
    overrides: Mapping[str, str] | None = None,
    custom_endpoint: bool = False,
) -> ModelSpec:
    """Turn a model string or alias into a :class:`ModelSpec` (``None`` means ``default``).

    An alias may carry a suffix itself (``'agent:cheapest'`` resolves ``agent`` then applies
    the policy). With ``custom_endpoint=True`` (a self-hosted server), a name that is not an alias
    is kept verbatim: such servers name their models freely (``tgi``, ``qwen2.5:0.5b``).
    """
    table = alias_table(kind, overrides)
    name = "default" if model is None else model
    if not isinstance(name, str):
        raise HFConfigError(f"model must be a string, got {type(name).__name__}.")
    base, sep, suffix = name.strip().partition(":")
    if base in table:
        target = table[base]
        spec = parse_model_spec(target, alias=base)
        return parse_model_spec(f"{spec.model_id}:{suffix}", alias=base) if sep else spec
    if custom_endpoint:
        if not name.strip() or any(char.isspace() for char in name.strip()):
            raise HFConfigError(f"model must be a non-empty name without spaces, got {name!r}.")
        return ModelSpec(name.strip())
    if "/" not in base and base.islower() and base.isalpha() and base not in table:
        known = ", ".join(sorted(table))
        raise HFConfigError(
            f"unknown {kind} alias {base!r}: known aliases are {known}. "
            "Pass a full model id ('org/name') or define the alias "
            "(HFBRIDGE_ALIASES or hfbridge.toml)."
        )
    return parse_model_spec(name)


@dataclass(frozen=True, slots=True)
class AliasIssue:
    """A problem the catalog shows with one alias."""

    kind: ModelKind
    alias: str
    model: str
    message: str


_EMBEDDING_TASKS = frozenset({"feature-extraction", "sentence-similarity"})
RERANK_PIPELINE_TAG = "text-ranking"
"""The Hub's pipeline tag for rerankers (``hfbridge models --task rerank`` lists these)."""
RERANK_TASKS = frozenset({RERANK_PIPELINE_TAG, "text-classification"})
"""The Hub tasks a reranker is served under: ``text-ranking`` (the Hub's pipeline tag for
rerankers) and ``text-classification`` (cross-encoders tagged before it existed). The catalog can
tell a ``text-ranking`` model is a reranker; a ``text-classification`` one may be any classifier:
nothing in the catalog's fields (pipeline tag, provider mapping) tells a cross-encoder apart."""


def _check_chat(alias: str, model: str, catalog: Catalog) -> str | None:
    spec = parse_model_spec(model)
    from hfbridge.catalog.capability import capabilities  # noqa: PLC0415 - lazy: see imports

    caps = capabilities(spec.with_provider(None), catalog=catalog)
    if not caps.available:
        return None
    served = caps.provider_info(spec.provider) if spec.provider else None
    if not caps.live_providers or (spec.provider and (served is None or not served.is_live)):
        return f"no live provider serves {model!r}"
    if alias == "agent":
        tools = [info.provider for info in caps.live_providers if info.supports_tools]
        if spec.provider and spec.provider not in tools:
            return f"{model!r} does not support tool calling, which 'agent' promises"
        if not tools:
            return f"no live provider of {model!r} supports tool calling, which 'agent' promises"
    return None


def _check_embeddings(model: str, catalog: Catalog) -> str | None:
    mapping = catalog.provider_mapping(parse_model_spec(model).model_id)
    if not any(entry.is_live and entry.task in _EMBEDDING_TASKS for entry in mapping):
        return f"no live provider serves {model!r} for embeddings"
    return None


def _check_rerank(model: str, catalog: Catalog) -> str | None:
    mapping = catalog.provider_mapping(parse_model_spec(model).model_id)
    if not any(
        entry.is_live and entry.provider == "hf-inference" and entry.task in RERANK_TASKS
        for entry in mapping
    ):
        return f"hf-inference does not serve {model!r} for text-ranking or text-classification"
    return None


def check_aliases(
    catalog: Catalog | None = None,
    *,
    overrides: Mapping[ModelKind, Mapping[str, str]] | None = None,
    warn: bool = True,
) -> list[AliasIssue]:
    """Check every alias against the live catalog; return (and by default warn about) problems.

    Chat aliases must name a model with a live provider (``agent``: one that supports tools);
    embeddings aliases a model with a live feature-extraction mapping on the Hub; rerank aliases a
    model hf-inference serves for text-ranking or text-classification. When the catalog
    cannot be reached nothing is reported (one :class:`CatalogUnavailableWarning` says so).
    """
    from hfbridge.catalog.capability import AliasWarning  # noqa: PLC0415 - lazy: see imports
    from hfbridge.catalog.catalog import default_catalog  # noqa: PLC0415

    catalog = catalog if catalog is not None else default_catalog()
    issues: list[AliasIssue] = []
    for kind in get_args(ModelKind):
        for alias, model in alias_table(kind, (overrides or {}).get(kind)).items():
            if kind == "chat":
                problem = _check_chat(alias, model, catalog)
            else:
                check = _check_embeddings if kind == "embeddings" else _check_rerank
                try:
                    problem = check(model, catalog)
                except Exception as error:  # noqa: BLE001 - a check never fails the caller
                    catalog.warn_unavailable(error)
                    problem = None
            if problem:
                issues.append(AliasIssue(kind, alias, model, f"{kind} alias {alias!r}: {problem}"))
    if warn:
        for issue in issues:
            warnings.warn(
                f"hfbridge: {issue.message}; override it (HFBRIDGE_ALIASES, hfbridge.toml or "
                "aliases=...) with a served model from `hfbridge models`.",
                AliasWarning,
                stacklevel=2,
            )
    return issues
