"""prepare(): the one-call helper around ``Dataset.map``, with the report, caching and streaming."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
from datasets import Dataset, DatasetDict, concatenate_datasets, Features, IterableDataset
from datasets.fingerprint import Hasher

try:  # datasets 5 stores nested dicts of differing keys as written
    from datasets import Json
except ImportError:  # older datasets unify them into structs
    Json = None

from .._version import __version__
from ..errors import RowError, SFTPrepError
from ..records.detect import detect_format
from .inherit import inherited
from .preprocess import SFTPreprocessor
from .schema import FEATURES, META_COLUMNS, PREPARED, user_columns
from .stats import kept_mask, log_drops, report_from_table

logger = logging.getLogger("hf_sftprep")

def tokenizer_identity(tokenizer) -> list:
    """What about a tokenizer changes its output: vocabulary, pipeline, template, special tokens."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return [
        backend.to_str() if backend is not None else repr(tokenizer.get_vocab()),
        getattr(tokenizer, "chat_template", None),
        tokenizer.bos_token,
        tokenizer.eos_token,
        # every special-token variable a template can read (pad_token, unk_token, additional ones)
        repr(sorted((k, str(v)) for k, v in tokenizer.special_tokens_map.items())),
        type(tokenizer).__name__,
    ]


def null_features(dataset) -> Features | dict | None:
    """The features that tell which nested nulls of ``dataset`` are the user's (SFTPreprocessor's ``features``).

    datasets 5's JSON loader types nested dicts whose keys differ as ``Json`` (stored as written) and keeps
    a struct type only where every record had the same keys, so none of its nulls were added by Arrow:
    all are the user's. Elsewhere (``Dataset.from_list``, Parquet) a struct column's nulls may be Arrow's.

    Example:
        >>> null_features(Dataset.from_list([{"a": {"b": None}}]))
        {'a': {'b': Value('null')}}
    """
    features = getattr(dataset, "features", None)
    if features is None:
        return None
    info = getattr(dataset, "info", None)
    if getattr(info, "builder_name", None) == "json" and Json is not None:
        return {column: Json() for column in features}
    return dict(features)


def fingerprint(dataset: Dataset, pre: SFTPreprocessor, identity: list | None = None) -> str:
    """Cache key: input data, tokenizer identity, template text, options and library version."""
    identity = tokenizer_identity(pre.tokenizer) if identity is None else identity
    return Hasher.hash(["hf_sftprep", __version__, dataset._fingerprint, identity, pre.cache_options()])


def _map(dataset: Dataset, pre: SFTPreprocessor, num_proc, batch_size, load_from_cache_file, desc, fp: str) -> Dataset:
    if num_proc and num_proc > 1:  # forked workers take the preprocessor from memory instead of unpickling it
        with inherited(pre) as fn:
            return _map_with(dataset, fn, num_proc, batch_size, load_from_cache_file, desc, fp)
    return _map_with(dataset, pre, num_proc, batch_size, load_from_cache_file, desc, fp)


def _map_with(dataset: Dataset, fn, num_proc, batch_size, load_from_cache_file, desc, fp: str) -> Dataset:
    return dataset.map(
        fn,
        batched=True,
        with_indices=True,
        batch_size=batch_size,
        num_proc=num_proc,
        remove_columns=dataset.column_names,
        features=FEATURES,
        new_fingerprint=fp,
        load_from_cache_file=load_from_cache_file,
        desc=desc,
    )


def _decide_backend(dataset: Dataset, pre: SFTPreprocessor, fmt: str, load_from_cache_file, fp: str, num_proc,
                    serialized: str | None = None) -> None:
    """Start the tokenizer backend's build and check here, on the first rows, before the map. With one
    process the map does not wait for it (batches encode through HF until it is ready); with ``num_proc``
    workers it is finished first, so that the forked workers inherit it instead of each building their own.
    Skipped when the map will load its cache (nothing is tokenized) and for Stanford Alpaca rows (the
    character path, HF only)."""
    if pre.rows.stanford(fmt):
        return
    if load_from_cache_file is not False and dataset.cache_files:
        folder = Path(dataset.cache_files[0]["filename"]).parent
        if any(folder.glob(f"cache-{fp}*.arrow")):
            return
    pre.encoder.plan(dataset.num_rows, serialized)  # before the head's shape check encodes anything
    head = dataset[: min(8, dataset.num_rows)]
    try:
        texts = pre.render(head, list(range(min(8, dataset.num_rows)))).texts
    except (RowError, SFTPrepError):  # the map reports bad rows with their context; decide on the probes
        texts = []
    pre.encoder.decide(texts, wait=bool(num_proc and num_proc > 1), rows=dataset.num_rows)


def _prepare_one(dataset: Dataset, pre: SFTPreprocessor, num_proc, batch_size, load_from_cache_file, desc):
    if not isinstance(dataset, Dataset):
        raise SFTPrepError(
            f"prepare() got a {type(dataset).__name__}; expected a datasets.Dataset or DatasetDict. "
            "Load records with datasets.load_dataset(...) or Dataset.from_list(...)."
        )
    fmt = detect_format(dataset.column_names, pre.options.format, pre.options.column_map)
    if dataset.num_rows == 0:  # Dataset.map skips the function on 0 rows and would return no meta columns
        mapped = Dataset.from_dict({name: [] for name in FEATURES}, features=FEATURES)
    else:
        identity = tokenizer_identity(pre.tokenizer)
        fp = fingerprint(dataset, pre, identity)
        serialized = identity[0] if getattr(pre.tokenizer, "backend_tokenizer", None) is not None else None
        _decide_backend(dataset, pre, fmt, load_from_cache_file, fp, num_proc, serialized)
        mapped = _map(dataset, pre, num_proc, batch_size, load_from_cache_file, desc, fp)
    keep = user_columns(dataset.column_names, fmt, pre.options.column_map)
    if keep:  # the user's other columns (ids, sources, ...) ride along, zero-copy: one output row per input row
        mapped = concatenate_datasets([dataset.select_columns(keep), mapped], axis=1)
    report = report_from_table(mapped.data.table, pre.spec)
    if pre.encoder.choice is not None:
        report.tokenizer_backend, report.tokenizer_backend_reason = pre.encoder.choice.backend, pre.encoder.choice.reason
    log_drops(report)
    if report.dropped:
        mapped = mapped.select(np.flatnonzero(kept_mask(mapped.data.table)))
    logger.info("hf_sftprep: %s", report.summary().replace("\n", "; "))
    return mapped.remove_columns(list(META_COLUMNS)), report


class _StreamAdapter:
    """IterableDataset.map validates dict outputs, so the Arrow table is handed over as columns; the user's
    other columns ride along with the kept rows, as in the non-streaming path."""

    def __init__(self, pre: SFTPreprocessor, keep: list[str]):
        self.pre, self.keep = pre, keep

    def __call__(self, batch, indices):
        table = self.pre(batch, indices)
        kept = kept_mask(table)
        if not kept.all():
            reasons = Counter(r for r in table.column("drop_reason").to_pylist() if r)
            logger.warning("dropped %d of %d rows in this batch: %s", len(indices) - int(kept.sum()), len(indices),
                           dict(reasons))
        rows = np.flatnonzero(kept)
        out = table.take(rows).drop_columns(list(META_COLUMNS)).to_pydict()
        return {**{c: [batch[c][i] for i in rows] for c in self.keep}, **out}


def _prepare_stream(dataset: IterableDataset, pre: SFTPreprocessor, batch_size: int) -> IterableDataset:
    """Streaming: the same batch function, lazily; dropped rows are left out and logged per batch."""
    columns = dataset.column_names or list(next(iter(dataset)).keys())
    fmt = detect_format(columns, pre.options.format, pre.options.column_map)
    keep = user_columns(columns, fmt, pre.options.column_map)
    features = None
    if dataset.features is not None and all(c in dataset.features for c in keep):
        features = Features({**{c: dataset.features[c] for c in keep}, **PREPARED})
    elif not keep:
        features = PREPARED
    return dataset.map(_StreamAdapter(pre, keep), batched=True, with_indices=True, batch_size=batch_size,
                       remove_columns=columns, features=features)


def prepare(
    dataset: Dataset | DatasetDict | IterableDataset,
    tokenizer,
    *,
    max_length: int | None = None,
    num_proc: int | None = None,
    batch_size: int = 1000,
    return_report: bool = False,
    load_from_cache_file: bool | None = None,
    **options,
):
    """Tokenize and mask a dataset of chat or Alpaca records, cached as Arrow ``int32``.

    Args:
        dataset: a ``Dataset`` (or ``DatasetDict``) of OpenAI-chat or Alpaca records; an
            ``IterableDataset`` (streaming) is mapped lazily and returned as one, without a report.
        tokenizer: a fast tokenizer (its chat template renders chat records).
        max_length: truncate after labels are built; None means no limit.
        num_proc: processes for ``Dataset.map``.
        batch_size: rows per batch given to the map function.
        return_report: also return a :class:`PrepReport` (a dict of them for a DatasetDict).
        load_from_cache_file: passed to ``Dataset.map``.
        **options: any :class:`SFTPreprocessor` option.

    Returns:
        The dataset with ``input_ids``, ``labels`` and ``length``; with ``return_report``,
        ``(dataset, report)``.

    Example:
        >>> ds = prepare(Dataset.from_list([{"messages": [{"role": "user", "content": "hi"},
        ...                                              {"role": "assistant", "content": "Hello!"}]}]), tok)
        >>> tok.decode([t for t in ds[0]["labels"] if t != -100])
        'Hello!<|im_end|>'
    """
    if isinstance(dataset, IterableDataset):
        if return_report:
            raise SFTPrepError(
                "return_report=True needs the whole dataset; a streamed IterableDataset is prepared lazily. "
                "Drop counts are logged per batch; for a report, prepare a Dataset or use the CLI's build."
            )
        pre = SFTPreprocessor(tokenizer, max_length=max_length, emit_meta=True, **options)
        return _prepare_stream(dataset, pre, batch_size)
    first = next(iter(dataset.values()), None) if isinstance(dataset, DatasetDict) else dataset
    options.setdefault("features", null_features(first))
    pre = SFTPreprocessor(tokenizer, max_length=max_length, emit_meta=True, **options)
    if isinstance(dataset, DatasetDict):
        results = {
            split: _prepare_one(ds, pre, num_proc, batch_size, load_from_cache_file, f"hf_sftprep [{split}]")
            for split, ds in dataset.items()
        }
        out = DatasetDict({split: r[0] for split, r in results.items()})
        return (out, {split: r[1] for split, r in results.items()}) if return_report else out
    out, report = _prepare_one(dataset, pre, num_proc, batch_size, load_from_cache_file, "hf_sftprep: tokenize + mask")
    return (out, report) if return_report else out
