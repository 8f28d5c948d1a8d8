"""Bulk embeddings and text generation over a Ray Data ``Dataset`` (``hfbridge[ray]``).

:class:`HFEmbedBatches` and :class:`HFGenerateBatches` are callable classes for
``Dataset.map_batches``: Ray builds one per actor, and each builds its hfbridge service once, from
plain settings that pickle cleanly (never a client, a token object or a lock). Each batch is a
bulk job: 429s are retried until ``job_timeout``, and the actors' limiters, one per process, share
the provider's limit without a coordinator (each cuts its window on the 429s it meets, and a
``Retry-After`` pauses it).

:func:`embed_to_parquet` runs a whole corpus into Parquet files keyed by a stable id column, and
resumes: a rerun after a crash reads the ids already written and embeds only the others.

Example:
    .. code-block:: python

        import ray
        from hfbridge.ray import embed_to_parquet

        ds = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(texts)])
        embed_to_parquet(ds, "out/", id_column="id", concurrency=4,
                         model="intfloat/multilingual-e5-small:hf-inference")
"""

from __future__ import annotations

from hfbridge.ray.stages import (
    HFEmbedBatches,
    HFGenerateBatches,
    check_settings,
    embed_to_parquet,
    written_ids,
)

__all__ = [
    "HFEmbedBatches",
    "HFGenerateBatches",
    "check_settings",
    "embed_to_parquet",
    "written_ids",
]
