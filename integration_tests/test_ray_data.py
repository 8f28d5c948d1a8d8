"""Ray Data on a real local cluster (issue 15): the map_batches stages, bad settings, resume.

The cluster is started here (``ray.init(num_cpus=4)``, no dashboard) and shut down at the end;
the server is the rate-limited loopback server (``benchmarks/ratelimited.py``), in its own process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.ratelimited import RateLimitedServer, vector_for  # noqa: E402

ray = pytest.importorskip("ray", reason="pip install -e '.[ray]'")
pq = pytest.importorskip("pyarrow.parquet")

from hfbridge.errors import HFConfigError  # noqa: E402
from hfbridge.ray import HFEmbedBatches, HFGenerateBatches, embed_to_parquet  # noqa: E402
from hfbridge.transport import HFClient  # noqa: E402

# Ray Data warns about its own deprecated settings while planning (not about our code).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


@pytest.fixture(scope="module")
def cluster():
    context = ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False,
                       configure_logging=False)  # fmt: skip
    try:
        yield context
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def server():
    with RateLimitedServer(rate=200, latency=0.02) as running:
        yield running


def items(count: int, tag: str = "r") -> list[dict]:
    return [{"id": i, "text": f"{tag} text {i}"} for i in range(count)]


def read_output(path: Path) -> dict[int, list[float]]:
    table = pq.read_table(path)
    ids = table.column("id").to_pylist()
    vectors = table.column("embedding").to_pylist()
    assert len(ids) == len(set(ids)), "an id was written twice"
    return dict(zip(ids, vectors, strict=True))


def test_embed_to_parquet_writes_every_row_once_with_its_vector(cluster, server, tmp_path):
    server.configure(rate=200, latency=0.02)
    ds = ray.data.from_items(items(4000))
    written = embed_to_parquet(ds, tmp_path / "out", id_column="id", concurrency=2,
                               batch_size=256, base_url=server.base, model="bench")  # fmt: skip
    assert written == 4000
    out = read_output(tmp_path / "out")
    assert sorted(out) == list(range(4000))
    for row in (0, 1234, 3999):
        assert out[row] == pytest.approx(vector_for(f"r text {row}"))
    assert server.stats()["texts_repeated"] == 0


def test_a_rerun_with_everything_written_sends_nothing(cluster, server, tmp_path):
    server.configure(rate=200, latency=0.02)
    ds = ray.data.from_items(items(600, "again"))
    settings = {"base_url": server.base, "model": "bench"}
    assert embed_to_parquet(ds, tmp_path / "o", id_column="id", concurrency=2, **settings) == 600
    before = server.stats()["texts"]
    assert embed_to_parquet(ds, tmp_path / "o", id_column="id", concurrency=2, **settings) == 0
    assert server.stats()["texts"] == before


def test_the_stages_as_map_batches_callable_classes(cluster, server):
    server.configure(rate=200, latency=0.02)
    ds = ray.data.from_items([{"prompt": f"p{i}", "id": i} for i in range(64)])
    generated = ds.map_batches(
        HFGenerateBatches, concurrency=2, batch_size=16,
        fn_constructor_kwargs={"base_url": server.base, "model": "bench",
                               "params": {"max_new_tokens": 4}},
    ).take_all()  # fmt: skip
    assert sorted(row["id"] for row in generated) == list(range(64))
    assert {row["generated"] for row in generated} == {"ok"}
    embedded = ds.map_batches(
        HFEmbedBatches, concurrency=2, batch_size=16,
        fn_constructor_kwargs={"base_url": server.base, "model": "bench", "text_column": "prompt"},
    ).take_all()  # fmt: skip
    assert all(list(row["embedding"]) == pytest.approx(vector_for(row["prompt"]))
               for row in embedded)  # fmt: skip


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"progress": "not callable"}, "must be callable"),
        ({"progress": threading.Lock()}, "must be callable"),
        ({"headers": {"x": threading.Lock()}}, "cannot be pickled"),
        ({"client": HFClient()}, "cannot be sent to Ray actors"),
        ({"job_timeout": 0}, "job_timeout must be a positive number"),
        ({"max_concurrency": 0}, "max_concurrency"),
    ],
)
def test_bad_settings_fail_on_the_driver_before_any_request(cluster, server, tmp_path,
                                                             settings, words):  # fmt: skip
    server.configure(rate=200, latency=0.02)
    ds = ray.data.from_items(items(10))
    with pytest.raises(HFConfigError, match=words):
        embed_to_parquet(ds, tmp_path / "x", id_column="id", base_url=server.base,
                         model="bench", **settings)  # fmt: skip
    assert server.stats().get("requests", 0) == 0


def test_a_missing_id_column_is_refused(cluster, server, tmp_path):
    ds = ray.data.from_items([{"text": "a"}])
    with pytest.raises(HFConfigError, match="id_column 'id' is not a column"):
        embed_to_parquet(ds, tmp_path / "x", id_column="id", base_url=server.base, model="bench")


DRIVER = """
import sys, ray
from hfbridge.ray import embed_to_parquet
address, base, out, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ray.init(address=address, log_to_driver=False, configure_logging=False)
ds = ray.data.from_items([{"id": i, "text": f"k text {i}"} for i in range(count)])
embed_to_parquet(ds, out, id_column="id", concurrency=2, batch_size=256, base_url=base,
                 model="bench")
"""


def test_a_job_killed_halfway_resumes_and_redoes_only_what_was_in_flight(cluster, server, tmp_path):
    count = 20_000
    server.configure(rate=100, latency=0.02)
    out = tmp_path / "killed"
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, cluster.address_info["address"], server.base, str(out),
         str(count)], start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while server.stats().get("texts", 0) < count // 2:
        assert driver.poll() is None, "the driver ended before half the texts"
        assert time.monotonic() < deadline, "the job did not reach half way in 120 s"
        time.sleep(0.05)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    at_kill = server.stats()["texts"]
    embed_to_parquet(ray.data.from_items([{"id": i, "text": f"k text {i}"} for i in range(count)]),
                     out, id_column="id", concurrency=2, batch_size=256,
                     base_url=server.base, model="bench")  # fmt: skip
    result = read_output(out)
    assert sorted(result) == list(range(count))
    stats = server.stats()
    again = stats["texts"] - count
    # at most the batches in flight: 2 actors x 256 rows, plus one batch each being written
    assert 0 <= again <= 2 * 2 * 256
    print(json.dumps({"embedded_at_kill": at_kill, "embedded_again": again,
                      "repeated_texts": stats["texts_repeated"]}))  # fmt: skip
