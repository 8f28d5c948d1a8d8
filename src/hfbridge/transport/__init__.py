"""The one layer that talks HTTP: clients, auth, retries, SSE, and service URLs.

Nothing outside this package imports httpx. The names here are the ones a user of the clients
needs; the rest (retry math, token discovery, the fast paths) is in the submodules.
"""

from hfbridge._urls import hf_inference_url, provider_url, router_url, router_v1_url
from hfbridge.transport._common import CallContext, HFResponse
from hfbridge.transport.async_client import AsyncEventStream, AsyncHFClient
from hfbridge.transport.auth import Secret, SecretHeaders
from hfbridge.transport.client import EventStream, HFClient
from hfbridge.transport.config import ClientConfig
from hfbridge.transport.jobs import BulkJob, bulk_job
from hfbridge.transport.retry import RetryPolicy

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
    "hf_inference_url",
    "provider_url",
    "router_url",
    "router_v1_url",
]
