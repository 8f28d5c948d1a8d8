"""The bulk settings of every batched service get one verdict, given by the batch engine."""

from __future__ import annotations

import pytest

from hfbridge.errors import HFConfigError
from hfbridge.inference.embeddings import EmbeddingService
from hfbridge.inference.rerank import RerankService

BASE = "http://127.0.0.1:9"
SERVICES = [EmbeddingService, RerankService]
CONCURRENCY = r"max_concurrency must be a positive integer \(the most requests in flight\)"
BAD = [
    ("max_concurrency", 0, CONCURRENCY),
    ("max_concurrency", True, CONCURRENCY),
    ("max_concurrency", 2.5, CONCURRENCY),
    ("job_timeout", 0, "job_timeout must be a positive number of seconds"),
    ("job_timeout", float("nan"), "job_timeout must be a positive number of seconds"),
    ("job_timeout", "60", "job_timeout must be a positive number of seconds"),
]


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.__name__)
@pytest.mark.parametrize(("name", "value", "message"), BAD)
def test_a_bad_bulk_setting_gets_the_same_error_from_every_service(service, name, value, message):
    with pytest.raises(HFConfigError, match=message):
        service(base_url=BASE, **{name: value})


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.__name__)
def test_the_service_reads_its_bulk_settings_from_its_engine(service):
    built = service(base_url=BASE, max_concurrency=3, job_timeout=7)
    assert (built.max_concurrency, built.job_timeout) == (3, 7.0)
    assert (built.engine.max_concurrency, built.engine.job_timeout) == (3, 7.0)
    assert isinstance(built.job_timeout, float)
