"""prepare(): the one-call helper around ``Dataset.map``, with the report, caching and streaming."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
from datasets import Dataset, DatasetDict, concatenate_datasets, Features, IterableDataset, IterableDatasetDict
from datasets.fingerprint import Hasher

try:  # datasets 5 stores nested dicts of differing keys as written
    from datasets import Json
except ImportError:  # older datasets unify them into structs
    Json = None

from .._version import __version__
from ..errors import RowError, SFTPrepError
from ..records.detect import detect_format
from ..tokens.fast_backend import Encoder
from .ahead import render_ahead
from .inherit import inherited
from .named import share_encoder
from .preprocess import SFTPreprocessor
from .schema import FEATURES, META_COLUMNS, PREPARED, user_columns
from .split import equal_rows, test_count, test_mask
from .stats import PrepReport, kept_mask, log_drops, report_from_table

logger = logging.getLogger("hf_sftprep")
REPORTED = {*META_COLUMNS, "length"}  # the columns report_from_table reads

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
                    serialized: str | None = None, batch_size: int | None = 1000) -> None:
    """Start the tokenizer backend's build and check here, on the first rows, before the map, and render the
    map's first batches while it builds (``ahead.py``). The map then starts once the build is finished, so
    that no batch encodes through HF meanwhile, and forked ``num_proc`` workers inherit the build instead of
    each building their own. If rendering ahead stops at a bad row, a single-process map starts at once and
    its batches encode through HF until the build is ready. Skipped when the map will load its cache
    (nothing is tokenized) and for Stanford Alpaca rows (the character path, HF only)."""
    if pre.rows.stanford(fmt):
        return
    if load_from_cache_file is not False and dataset.cache_files:
        folder = Path(dataset.cache_files[0]["filename"]).parent
        if any(folder.glob(f"cache-{fp}*.arrow")):
            return
    pre.encoder.plan(dataset.num_rows, serialized)  # before the head's shape check encodes anything
    texts = []
    if pre.encoder.choice is None:  # else HF is chosen (backend="hf", a small dataset): no build to check rows for
        head = dataset[: min(8, dataset.num_rows)]
        try:
            texts = pre.render(head, list(range(min(8, dataset.num_rows)))).texts
        except (RowError, SFTPrepError):  # the map reports bad rows with their context; decide on the probes
            pass
    pre.encoder.decide(texts, wait=False, rows=dataset.num_rows)
    ahead = render_ahead(dataset, pre, num_proc, batch_size)
    if ahead:
        logger.info("hf_sftprep: rendered %d of %d rows while the fast tokenizer backend was built", ahead, dataset.num_rows)
    if ahead or (num_proc and num_proc > 1):
        pre.encoder.decide(texts, wait=True, rows=dataset.num_rows)


def _prepare_one(dataset: Dataset, pre: SFTPreprocessor, num_proc, batch_size, load_from_cache_file, desc):
    return _finish(_mapped(dataset, pre, num_proc, batch_size, load_from_cache_file, desc), pre)


def _mapped(dataset: Dataset, pre: SFTPreprocessor, num_proc, batch_size, load_from_cache_file, desc) -> Dataset:
    """The map's output with the meta columns, one row per input row (dropped ones too)."""
    if not isinstance(dataset, Dataset):
        raise SFTPrepError(
            f"prepare() got a {type(dataset).__name__}; expected a datasets.Dataset or DatasetDict. "
            "Load records with datasets.load_dataset(...) or Dataset.from_list(...)."
        )
    fmt = detect_format(dataset.column_names, pre.options.format, pre.options.column_map)
    # each dataset decides its backend on its own row count: a DatasetDict's 7-row test split quoted its
    # 30-row train split's; and a dict chat_template's preprocessors encode with that one decision
    share_encoder(pre, Encoder(pre.tokenizer, pre.options.backend))
    if dataset.num_rows == 0:  # Dataset.map skips the function on 0 rows and would return no meta columns
        mapped = Dataset.from_dict({name: [] for name in FEATURES}, features=FEATURES)
    else:
        identity = tokenizer_identity(pre.tokenizer)
        fp = fingerprint(dataset, pre, identity)
        serialized = identity[0] if getattr(pre.tokenizer, "backend_tokenizer", None) is not None else None
        try:
            _decide_backend(dataset, pre, fmt, load_from_cache_file, fp, num_proc, serialized, batch_size)
            mapped = _map(dataset, pre, num_proc, batch_size, load_from_cache_file, desc, fp)
        finally:
            pre.ahead.clear()
    keep = user_columns(dataset.column_names, fmt, pre.options.column_map)
    if keep:  # the user's other columns (ids, sources, ...) ride along, zero-copy: one output row per input row
        mapped = concatenate_datasets([dataset.select_columns(keep), mapped], axis=1)
    return mapped


def _finish(mapped: Dataset, pre: SFTPreprocessor) -> tuple[Dataset, PrepReport]:
    """The report of ``mapped`` (all of a map's output, or some of its rows), and its kept rows without the
    meta columns."""
    # only the columns the report reads: zero-copy for a map's output, a small take for selected rows
    table = mapped.select_columns([c for c in mapped.column_names if c in REPORTED]).with_format("arrow")[:]
    report = report_from_table(table, pre.spec)
    if pre.encoder.choice is not None:
        report.tokenizer_backend, report.tokenizer_backend_reason = pre.encoder.choice.backend, pre.encoder.choice.reason
    log_drops(report)
    if report.dropped:
        mapped = mapped.select(np.flatnonzero(kept_mask(table)))
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
            ``IterableDataset`` (streaming) is mapped lazily and returned as one, without a report (an
            ``IterableDatasetDict``, split by split).
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
    if isinstance(dataset, (IterableDataset, IterableDatasetDict)):
        if return_report:
            kind = (f"IterableDatasetDict (splits {', '.join(dataset)})" if isinstance(dataset, IterableDatasetDict)
                    else "IterableDataset")
            raise SFTPrepError(
                f"return_report=True needs the whole dataset; a streamed {kind} is prepared lazily. "
                "Drop counts are logged per batch; for a report, prepare a Dataset or use the CLI's build."
            )
        pre = SFTPreprocessor(tokenizer, max_length=max_length, emit_meta=True, **options)
        if isinstance(dataset, IterableDatasetDict):  # load_dataset(..., streaming=True) without split=
            return IterableDatasetDict({split: _prepare_stream(ds, pre, batch_size) for split, ds in dataset.items()})
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


def prepare_split(
    dataset: Dataset,
    tokenizer,
    test_size: float | int,
    *,
    seed: int = 42,
    option: str = "test_size",
    max_length: int | None = None,
    num_proc: int | None = None,
    batch_size: int = 1000,
    load_from_cache_file: bool | None = None,
    **options,
) -> tuple[DatasetDict, dict[str, PrepReport]]:
    """:func:`prepare`, then a train/test split of the prepared rows in which rows with equal ``input_ids``
    stay on one side (all their copies with them), so no test row is trained on. Splitting the records
    first put 6 of the 101 test rows of the shipped demo_chat.jsonl (``test_size=0.5``) in train as well.

    ``test_size`` counts distinct rows: a row count, or a fraction rounded up (as datasets does); a dropped
    row counts as one, in the report of its split. Each split is shuffled with ``seed``; ``option`` names
    ``test_size`` in errors (the CLI's ``--test-size``).

    Returns:
        ``(DatasetDict with train and test, {split: PrepReport})``.

    Example:
        >>> rows = [{"messages": [{"role": "user", "content": f"q{i % 3}"},
        ...                       {"role": "assistant", "content": "a"}]} for i in range(9)]
        >>> ds, reports = prepare_split(Dataset.from_list(rows), tok, 1, seed=0)
        >>> ds["train"].num_rows, ds["test"].num_rows
        (6, 3)
    """
    if not isinstance(dataset, Dataset):
        raise SFTPrepError(f"prepare_split() got a {type(dataset).__name__}; expected a datasets.Dataset (the records "
                           "to divide into train and test), e.g. load_dataset(..., split='train').")
    if isinstance(test_size, bool) or not (isinstance(test_size, int) and test_size >= 1
                                           or isinstance(test_size, float) and 0 < test_size < 1):
        raise SFTPrepError(f"{_spelled(option, test_size)}: expected a fraction between 0 and 1, or a whole number "
                           "of rows >= 1.")
    options.setdefault("features", null_features(dataset))
    pre = SFTPreprocessor(tokenizer, max_length=max_length, emit_meta=True, **options)
    mapped = _mapped(dataset, pre, num_proc, batch_size, load_from_cache_file, "hf_sftprep: tokenize + mask")
    meta = mapped.select_columns(["input_ids", "drop_reason"]).with_format("arrow")[:]
    groups = equal_rows(meta.column("input_ids"), kept_mask(meta))
    distinct = int(groups.max()) + 1 if len(groups) else 0
    n_test = test_count(test_size, distinct)
    if not 1 <= n_test < distinct:
        raise SFTPrepError(_too_few(option, test_size, n_test, len(groups), distinct))
    in_test = test_mask(groups, n_test, seed)
    rng = np.random.default_rng(seed)
    parts = {name: _finish(mapped.select(rows[rng.permutation(len(rows))]), pre)
             for name, rows in (("train", np.flatnonzero(~in_test)), ("test", np.flatnonzero(in_test)))}
    return DatasetDict({name: ds for name, (ds, _) in parts.items()}), {name: r for name, (_, r) in parts.items()}


def _too_few(option: str, test_size: float | int, n_test: int, rows: int, distinct: int) -> str:
    """The error for a test size the distinct rows cannot hold."""
    head = (f"{_spelled(option, test_size)}: the data has {rows} rows but {distinct} distinct ones after "
            "preparation (rows with equal token ids stay on one side of the split, so they count once)")
    if distinct < 2:
        return f"{head}; a split needs at least 2: add rows, or leave out {option}."
    if isinstance(test_size, int):
        return (f"{head}, and {n_test} test rows would leave none for train; give at most {distinct - 1}, or a "
                f"fraction, e.g. {_spelled(option, 0.5)}.")
    return (f"{head}, and {test_size:g} of them rounds up to {n_test} test rows, which would leave none for train; "
            f"give a fraction of at most {distinct - 1}/{distinct}, or a row count below {distinct}, "
            f"e.g. {_spelled(option, 1)}.")


def _spelled(option: str, value) -> str:
    """``--test-size 0.5`` for a CLI flag, ``test_size=0.5`` for a Python argument."""
    text = f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value)
    return f"{option} {text}" if option.startswith("--") else f"{option}={text}"
