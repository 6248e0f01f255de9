"""prepare_on_ray: the same batch function on Ray Data, for corpora beyond one machine.

Each Ray worker process loads the tokenizer once (cached across its ``map_batches`` tasks), runs
:class:`SFTPreprocessor` on Arrow batches, and the kept rows are written as Parquet shards with int32
list columns, readable by ``datasets.load_dataset("parquet", data_dir=...)`` and the trainer adapter.
Ray is imported inside: install the ``distributed`` extra.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from ..errors import RowError, SFTPrepError
from .preprocess import SFTPreprocessor
from .schema import META_COLUMNS
from .stats import log_drops, report_from_table


_PREPROCESSORS: dict[str, SFTPreprocessor] = {}


def _prepare_batch(batch: pa.Table, tokenizer: str, options: dict) -> pa.Table:
    """Ray ``map_batches`` task: meta columns kept for the report.

    Ray reuses its worker processes across tasks, so the tokenizer is loaded (and the template probed) once
    per worker process, like a callable class would, but without an actor pool: Ray Data restarts pool
    actors forever by default and Ray's core then logs an ERROR line for each one (ray-project/ray#57733).
    """
    key = json.dumps([tokenizer, options], sort_keys=True, default=repr)
    pre = _PREPROCESSORS.get(key)
    if pre is None:
        from transformers import AutoTokenizer

        pre = _PREPROCESSORS[key] = SFTPreprocessor(AutoTokenizer.from_pretrained(tokenizer), emit_meta=True, **options)
    records = batch.to_pydict()
    try:  # indices given, so a message never asks a Ray user for with_indices=True
        return pre(records, list(range(batch.num_rows)))
    except RowError as err:  # the driver finds the record's dataset row number
        raise _BatchRowError(err, {c: v[err.row] for c, v in records.items()}) from None


class _BatchRowError(Exception):
    """A RowError raised inside a Ray task, with its record, so that the driver can number it in the dataset."""

    def __init__(self, error: RowError, record: dict):
        super().__init__(str(error))
        self.error, self.record = error, record

    def __reduce__(self):  # Ray appends its retry notice to args; rebuild from the two fields only
        return (type(self), (self.error, self.record))


def _original_error(err: BaseException) -> BaseException | None:
    """The SFTPrepError (or _BatchRowError) behind Ray's RayTaskError(UserCodeException) wrappers."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, (SFTPrepError, _BatchRowError)) and type(err).__module__.startswith("hf_sftprep"):
            return err
        err = getattr(err, "cause", None) or err.__cause__ or err.__context__
    return None


def _dataset_row(ray_ds, record: dict) -> int | None:
    """The row number of ``record`` in ``ray_ds``, read in order (only on the error path)."""
    import ray

    context = ray.data.DataContext.get_current()
    saved = context.execution_options.preserve_order
    context.execution_options.preserve_order = True
    try:
        base = 0
        for batch in ray_ds.iter_batches(batch_format="pyarrow", batch_size=4096):
            rows = batch.to_pylist()
            if record in rows:
                return base + rows.index(record)
            base += len(rows)
    finally:
        context.execution_options.preserve_order = saved
    return None


def _reraise(err: BaseException, ray_ds) -> None:
    """Raise the row error as prepare() would: ``row N: ...`` with N the record's row in the whole source."""
    found = _original_error(err)
    if found is None:
        return
    if isinstance(found, SFTPrepError):
        raise found from None
    row, inner = _dataset_row(ray_ds, found.record), found.error
    if row is None:
        raise RowError(None, inner.reason, f"row {inner.row} of a Ray batch: {inner.detail}") from None
    raise RowError(row, inner.reason, inner.detail) from None


def _probe(tokenizer: str, options: dict):
    """The template spec the workers will find (a tokenizer without a chat template has none)."""
    from transformers import AutoTokenizer

    return SFTPreprocessor(AutoTokenizer.from_pretrained(str(tokenizer)), **options).spec


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


def _output_fs(output_dir: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem and path of ``output_dir``: a local path, or a URI such as ``s3://bucket/prefix``."""
    if "://" in output_dir:
        return pafs.FileSystem.from_uri(output_dir)
    return pafs.LocalFileSystem(), os.path.abspath(output_dir)


def _check_output_dir(output_dir: str, overwrite: bool) -> None:
    """Refuse a non-empty folder: a second run would add its shards beside the first run's."""
    fs, path = _output_fs(output_dir)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.File:
        raise SFTPrepError(f"output_dir {output_dir!r} is a file; expected a directory (new or empty).")
    if info.type != pafs.FileType.Directory:
        return
    found = fs.get_file_info(pafs.FileSelector(path, recursive=False))
    if found and not overwrite:
        raise SFTPrepError(
            f"output_dir {output_dir!r} is not empty ({len(found)} entries, e.g. {Path(found[0].path).name!r}); "
            "writing into it would put this run's Parquet shards beside the old ones, and "
            "load_dataset('parquet', data_dir=...) would read both. Pass overwrite=True to replace its "
            "contents, or choose a new directory."
        )


@contextlib.contextmanager
def _quiet_ray(ray, verbose: bool):
    """Ray Data logs every operator's progress at INFO and its core prints an actor-restart notice at ERROR
    (for Ray Data's own constructor refs, harmless); silence both unless ``verbose``."""
    if verbose:
        yield
        return
    context = ray.data.DataContext.get_current()
    saved = (context.enable_progress_bars, context.print_on_execution_start)
    data_logger = logging.getLogger("ray.data")
    level = data_logger.level
    context.enable_progress_bars, context.print_on_execution_start = False, False
    data_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        context.enable_progress_bars, context.print_on_execution_start = saved
        data_logger.setLevel(level)


def _start_ray(ray, address, num_cpus, verbose: bool) -> None:
    quiet = {} if verbose else {"logging_level": logging.ERROR}
    ray.init(address=address, num_cpus=num_cpus if address is None else None, include_dashboard=False,
             log_to_driver=verbose, ignore_reinit_error=True, **quiet)


def prepare_on_ray(source, tokenizer: str, output_dir: str, *, num_cpus: int | None = None, address: str | None = None,
                   batch_size: int = 1000, return_report: bool = False, overwrite: bool = False, verbose: bool = False,
                   **options):
    """Prepare ``source`` on a Ray cluster (a local one unless ``address`` is given) into Parquet shards.

    Args:
        source: JSONL/Parquet path(s) (globs are expanded by Ray) or a ``ray.data.Dataset``.
        tokenizer: a local tokenizer directory or a hub id, loaded once per worker.
        output_dir: where the Parquet shards go: a new or empty directory (local path or URI).
        num_cpus: CPUs for a local Ray instance (and the worker pool size).
        address: an existing cluster, e.g. ``"ray://head:10001"``.
        overwrite: replace the contents of a non-empty ``output_dir`` (refused otherwise).
        verbose: show Ray's own progress and log lines (hidden by default).
        **options: any :class:`SFTPreprocessor` option.

    Returns:
        ``output_dir`` (and a :class:`PrepReport` with ``return_report=True``).

    Example:
        >>> out, report = prepare_on_ray("chats.jsonl", "./tok", "prepared/", num_cpus=2, return_report=True)  # doctest: +SKIP
        >>> report.rows_in, report.rows_out  # doctest: +SKIP
        (2000, 2000)

    In error mode the first bad record found raises its ``RowError`` (an ``SFTPrepError``), numbered by its
    row in the whole source, as ``prepare()`` numbers it.
    """
    try:
        import ray
    except ImportError as err:
        raise ImportError(f"prepare_on_ray needs Ray ({err}). Install: pip install 'hf-sftprep[distributed]'") from err
    output_dir = str(output_dir)
    _check_output_dir(output_dir, overwrite)
    spec = _probe(tokenizer, options)  # bad options fail here, before Ray starts; the report names the template
    started = not ray.is_initialized()
    if started:
        _start_ray(ray, address, num_cpus, verbose)
    try:
        with _quiet_ray(ray, verbose):
            context = ray.data.DataContext.get_current()  # a dataset keeps a copy of it: set it first
            saved, context.raise_original_map_exception = context.raise_original_map_exception, True
            records = _read(ray, source)
            try:  # the worker's own exception, not "UDF failed to process a data block", reaches the driver
                mapped = records.map_batches(
                    _prepare_batch, fn_kwargs={"tokenizer": str(tokenizer), "options": options},
                    batch_size=batch_size, batch_format="pyarrow", num_cpus=1,
                ).materialize()
            except Exception as err:
                _reraise(err, records)
                raise
            finally:
                context.raise_original_map_exception = saved
            # the same meta columns as prepare() reads, so the two reports agree field by field
            columns = ["length", *META_COLUMNS]
            meta = pa.concat_tables(ray.get(ref) for ref in mapped.select_columns(columns).to_arrow_refs())
            fs, path = _output_fs(output_dir)
            if fs.get_file_info(path).type == pafs.FileType.Directory:
                fs.delete_dir_contents(path)  # only reached with overwrite=True or an empty folder
            mapped.map_batches(_keep_rows, batch_format="pyarrow").write_parquet(output_dir)
    finally:
        if started:
            ray.shutdown()
    report = report_from_table(meta, spec)
    log_drops(report)
    return (output_dir, report) if return_report else output_dir
