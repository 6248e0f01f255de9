"""prepare_on_ray: the same batch function on Ray Data, for corpora beyond one machine.

Each Ray worker loads the tokenizer once (a callable class in ``map_batches``), runs
:class:`SFTPreprocessor` on Arrow batches, and the kept rows are written as Parquet shards with int32
list columns, readable by ``datasets.load_dataset("parquet", data_dir=...)`` and the trainer adapter.
Ray is imported inside: install the ``distributed`` extra.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import SFTPrepError
from .preprocess import META_COLUMNS, SFTPreprocessor
from .stats import log_drops, report_from_table


class _RayBatch:
    """Ray ``map_batches`` callable: one tokenizer per worker, meta columns kept for the report."""

    def __init__(self, tokenizer: str, options: dict):
        from transformers import AutoTokenizer

        self.pre = SFTPreprocessor(AutoTokenizer.from_pretrained(tokenizer), emit_meta=True, **options)

    def __call__(self, batch: pa.Table) -> pa.Table:
        return self.pre(batch.to_pydict())


def _keep_rows(batch: pa.Table) -> pa.Table:
    return batch.filter(pc.equal(batch["drop_reason"], "")).drop_columns(list(META_COLUMNS))


def _read(ray, source):
    if not isinstance(source, (str, Path, list, tuple)):
        return source  # already a ray.data.Dataset
    paths = [str(p) for p in (source if isinstance(source, (list, tuple)) else [source])]
    if all(p.endswith((".jsonl", ".json")) for p in paths):
        return ray.data.read_json(paths)
    if all(p.endswith(".parquet") for p in paths):
        return ray.data.read_parquet(paths)
    raise SFTPrepError(f"source {paths}: expected .jsonl/.json or .parquet paths, or a ray.data.Dataset.")


def prepare_on_ray(source, tokenizer: str, output_dir: str, *, num_cpus: int | None = None, address: str | None = None,
                   batch_size: int = 1000, return_report: bool = False, **options):
    """Prepare ``source`` on a Ray cluster (a local one unless ``address`` is given) into Parquet shards.

    Args:
        source: JSONL/Parquet path(s) (globs are expanded by Ray) or a ``ray.data.Dataset``.
        tokenizer: a local tokenizer directory or a hub id, loaded once per worker.
        output_dir: where the Parquet shards go.
        num_cpus: CPUs for a local Ray instance (and the worker pool size).
        address: an existing cluster, e.g. ``"ray://head:10001"``.
        **options: any :class:`SFTPreprocessor` option.

    Returns:
        ``output_dir`` (and a :class:`PrepReport` with ``return_report=True``).

    Row numbers in error messages count within a Ray batch, not the whole corpus.
    """
    try:
        import ray
    except ImportError as err:
        raise ImportError(f"prepare_on_ray needs Ray ({err}). Install: pip install 'hf-sftprep[distributed]'") from err
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, num_cpus=num_cpus if address is None else None, include_dashboard=False,
                 log_to_driver=False, ignore_reinit_error=True)
    try:
        mapped = _read(ray, source).map_batches(
            _RayBatch, fn_constructor_args=(str(tokenizer), options), batch_size=batch_size,
            # one CPU stays free for the read tasks, or the actor pool starves them and the job never starts
            batch_format="pyarrow", concurrency=max(1, (num_cpus or 2) - 1), num_cpus=1,
        ).materialize()
        meta = pa.concat_tables(ray.get(ref) for ref in mapped.select_columns(["drop_reason", "eot_truncated", "n_trained", "length"]).to_arrow_refs())
        mapped.map_batches(_keep_rows, batch_format="pyarrow").write_parquet(str(output_dir))
    finally:
        if started:
            ray.shutdown()
    report = report_from_table(meta)
    log_drops(report)
    return (output_dir, report) if return_report else output_dir
