"""The one layer that talks HTTP: clients, auth, retries, SSE, and service URLs.

Nothing outside this package imports httpx.
"""

from hfbridge.transport._common import CallContext, HFResponse
from hfbridge.transport.async_client import AsyncEventStream, AsyncHFClient
from hfbridge.transport.auth import Secret, SecretHeaders, resolve_token
from hfbridge.transport.client import EventStream, HFClient
from hfbridge.transport.config import (
    ClientConfig,
    hf_inference_url,
    hub_api_url,
    provider_url,
    router_url,
    router_v1_url,
    validate_base_url,
)
from hfbridge.transport.jobs import BulkJob, bulk_job
from hfbridge.transport.retry import RetryPolicy, compute_wait, parse_retry_after

__all__ = [
    "AsyncEventStream",
    "AsyncHFClient",
    "BulkJob",
    "CallContext",
    "ClientConfig",
    "EventStream",
    "HFClient",
    "HFResponse",
    "RetryPolicy",
    "Secret",
    "SecretHeaders",
    "bulk_job",
    "compute_wait",
    "hf_inference_url",
    "hub_api_url",
    "parse_retry_after",
    "provider_url",
    "resolve_token",
    "router_url",
    "router_v1_url",
    "validate_base_url",
]
