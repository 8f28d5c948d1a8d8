"""Every default hfbridge uses, on one screen.

Change a default here and nowhere else. Values that users may override through the environment name
their variable in a ``*_ENV`` constant next to them.
"""

from __future__ import annotations

from typing import Final

# --- hosts ----------------------------------------------------------------------------------------
ROUTER_URL: Final = "https://router.huggingface.co"
"""Inference Providers router. ``/v1`` is the OpenAI-compatible auto-router; ``/{provider}`` the
provider-scoped proxy; ``/hf-inference/models/{id}`` the hf-inference task routes."""
ROUTER_V1_URL: Final = f"{ROUTER_URL}/v1"
ROUTER_URL_ENV: Final = "HFBRIDGE_ROUTER_URL"
"""Moves the router (every route above, and its ``/v1/models`` catalog) to a gateway or a mirror
that speaks its API. When set, its origin is trusted like a Hugging Face host: a discovered token is
sent to it. Read when a client is created."""
HUB_URL: Final = "https://huggingface.co"
HUB_ENDPOINT_ENV: Final = "HF_ENDPOINT"  # moves the Hub API only, never the router
HF_INFERENCE_PROVIDER: Final = "hf-inference"

HF_HOST_SUFFIXES: Final = ("huggingface.co", "hf.co", "huggingface.cloud")
"""Hosts (and their subdomains) that may receive an implicitly discovered token.

``huggingface.cloud`` is where Inference Endpoints live (``*.endpoints.huggingface.cloud``)."""

# --- auth -----------------------------------------------------------------------------------------
TOKEN_ENV: Final = "HF_TOKEN"  # noqa: S105 - an env variable name, not a secret
LEGACY_TOKEN_ENV: Final = "HUGGING_FACE_HUB_TOKEN"  # noqa: S105 - an env variable name
TOKEN_PATH_ENV: Final = "HF_TOKEN_PATH"  # noqa: S105 - an env variable name
BASE_URL_TOKEN_ENV: Final = "HFBRIDGE_BASE_URL_TOKEN"  # noqa: S105 - an env variable name
"""Where a dumped model's key for a self-hosted ``base_url`` is read when it is loaded (LangChain
``loads(..., secrets_from_env=True)``): never ``HF_TOKEN``, which belongs to Hugging Face."""
HF_HOME_ENV: Final = "HF_HOME"
XDG_CACHE_HOME_ENV: Final = "XDG_CACHE_HOME"

# --- timeouts (seconds) ---------------------------------------------------------------------------
CONNECT_TIMEOUT: Final = 10.0
READ_TIMEOUT: Final = 120.0  # long enough for a cold model's first token
STREAM_IDLE_TIMEOUT: Final = None
"""Seconds a stream may go without an event (comments do not count); ``None``: the read timeout."""
DRAIN_TIMEOUT: Final = 0.1
"""Seconds granted after ``[DONE]`` for the body's end to arrive (so the connection is reused)."""

# --- size caps (bytes) ----------------------------------------------------------------------------
MAX_BODY_BYTES: Final = 64 * 1024 * 1024
"""Largest answer body kept, once decoded (gzip, deflate...): bounds a decompression bomb."""
MAX_LINE_BYTES: Final = 16 * 1024 * 1024
"""Largest line of an event stream (one event's ``data``)."""

# --- retries --------------------------------------------------------------------------------------
MAX_RETRIES: Final = 2
RETRY_INITIAL_DELAY: Final = 0.5
RETRY_MAX_BACKOFF: Final = 8.0
RETRY_WAIT_CAP: Final = 60.0
"""Upper bound for any single wait, including a server's ``Retry-After`` or ``estimated_time``."""

# --- connection pool ------------------------------------------------------------------------------
MAX_CONNECTIONS: Final = 256
MAX_KEEPALIVE_CONNECTIONS: Final = 64
KEEPALIVE_EXPIRY: Final = 30.0

# --- headers --------------------------------------------------------------------------------------
BILL_TO_HEADER: Final = "X-HF-Bill-To"
USE_CACHE_HEADER: Final = "x-use-cache"
REQUEST_ID_HEADERS: Final = ("x-request-id", "x-amzn-trace-id", "x-amz-cf-id")
ERROR_MESSAGE_HEADER: Final = "x-error-message"
ERROR_CODE_HEADER: Final = "x-error-code"

# --- catalog --------------------------------------------------------------------------------------
CATALOG_TTL: Final = 3600.0
CATALOG_FAILURE_TTL: Final = 300.0
"""After a failed catalog fetch, how long to answer from the failure (or stale data) before
retrying."""
CATALOG_TIMEOUT: Final = 10.0
CATALOG_MAX_RETRIES: Final = 1
CATALOG_CACHE_DIR_ENV: Final = "HFBRIDGE_CACHE_DIR"
HUB_OFFLINE_ENV: Final = "HF_HUB_OFFLINE"  # "1": the catalog answers from its cache only
ALIASES_ENV: Final = "HFBRIDGE_ALIASES"
ALIASES_FILE: Final = "hfbridge.toml"
DEFAULT_CONTEXT_WINDOW: Final = 4096
DEFAULT_NUM_OUTPUT: Final = 512

# --- adaptive concurrency and bulk jobs -----------------------------------------------------------
LIMITER_INITIAL_WINDOW: Final = 4
"""Requests in flight per (host, model, provider) before any answer has come back."""
LIMITER_CEILING: Final = 256
"""The in-flight window of one key never grows past this (the pool's connection limit)."""
LIMITER_DECREASE: Final = (0.5, 0.7)
"""A 429/503 cuts the window to a random share in this range (jitter desynchronises processes)."""
JOB_TIMEOUT: Final = 1800.0
"""Seconds a bulk call (embed_documents, batch, generate) may take; 429s and loading 503s are
retried until then instead of counting against ``max_retries``."""
PACER_SHARE: Final = (0.90, 0.95)
"""On a 429, a key is paced at a random share in this range of the rate its server just admitted
(the jitter keeps processes that share one limit from stepping in lock step)."""
PACER_WINDOW: Final = (0.2, 1.0)
"""Seconds of recent successes the admitted rate is measured over (about ten answers' worth, within
these bounds)."""
PACER_PROBE: Final = 0.05
"""After a cut the paced rate grows by this share of itself per second, times one plus the seconds
since the cut (slow near the limit just found, faster the longer no 429 comes)."""
PACER_SLOW_START: Final = (1.5, 0.1)
"""Until its first paced 429 a pacer multiplies its rate by the first value every second-value
seconds: an early estimate from a handful of answers is usually far too low."""
PACER_RESTART: Final = (1.0, 16.0, 0.5)
"""A pacer that met no 429 for the longer of the first two values (seconds, intervals at its rate)
goes back to a gentler slow start (``PACER_SLOW_START``'s factor every third-value seconds):
processes sharing one limit each measure only their own part of it, and the additive probe alone
left a quarter of the limit unused for seconds (issue 15, 4 processes: share 0.61-0.73 -> 0.96)."""
PACER_STRIKES: Final = 3
"""Paced 429s in a row with no success between them: pacing has failed, the key pauses for the
server's ``Retry-After`` instead and measures again afterwards."""
PROGRESS_MIN_BATCHES: Final = 8
"""A job of at least this many requests shows a progress bar when a terminal or notebook is
attached (``show_progress=None``)."""

# --- embeddings batching --------------------------------------------------------------------------
EMBED_BATCH_SIZE: Final = 32
EMBED_MAX_BATCH_BYTES: Final = 1_000_000
EMBED_LOOP_MIN_BATCHES: Final = 64
"""A sync embeddings job of at least this many requests runs on the async engine in a private
event loop (about twice the requests per second of a thread pool on the same CPU). Smaller jobs
keep the thread pool: a new loop, pool and connections per call cost more than they gain (a Ray
batch of 8 requests ran at about half the speed)."""
EMBED_CONCURRENCY: Final = 64
"""The most requests of one embeddings job in flight; the limiter finds the actual number."""

# --- rerank batching ------------------------------------------------------------------------------
RERANK_BATCH_SIZE: Final = 32
"""Documents per rerank request, at most: TEI's default ``--max-client-batch-size``."""
RERANK_MAX_BATCH_BYTES: Final = 1_000_000
"""Body bytes per rerank request, at most (TEI's default ``--payload-limit`` is 2,000,000)."""

# --- text generation ------------------------------------------------------------------------------
TEXTGEN_BATCH_CONCURRENCY: Final = 64
"""The most prompts of one ``batch``/``generate`` call in flight (the limiter finds the number)."""
