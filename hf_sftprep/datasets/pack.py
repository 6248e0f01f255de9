"""pack(): best-fit-decreasing packing of prepared rows into sequences of at most ``seq_length`` tokens.

The bin assignment runs once over the whole ``length`` column (not per map batch, as TRL's
``pack_dataset`` does), then the token buffers are gathered with numpy in place from the input's
memory-mapped files (no copy of the columns) and written once, one record batch at a time, to a
fingerprinted cache file next to the input's, like ``prepare()``'s.

Rows are taken longest first; each goes into the open bin with the least room that still fits it,
or opens a new bin. Bins with the same free room are interchangeable, so open bins are kept in
buckets by free room (``seq_length`` buckets at most) and all rows of one length are placed with a
few array operations: a bin with ``s`` free tokens takes ``s // L`` rows of length ``L`` in a row,
because after each one it is still the tightest fit. The Python work is per distinct length and per
bucket touched, not per row (1M rows at seq_length 4096: 0.12 s).
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset, DatasetDict, Features, IterableDataset, List, Value, is_caching_enabled
from datasets.arrow_writer import ArrowWriter
from datasets.fingerprint import Hasher
from datasets.table import InMemoryTable
from datasets.utils import tqdm

from .._version import __version__
from ..errors import OptionError, SFTPrepError
from ..options import PackOverflow, PackStrategy, check_choice

logger = logging.getLogger("hf_sftprep")

TOKEN_COLUMNS = ("input_ids", "labels")
# Tokens gathered per record batch. The gather index is int64: at 2**18 tokens it is 2 MiB and stays in
# cache; at 2**23 the same 100k-row gather ran 1.8x slower (page faults on the fresh 64 MiB index).
CHUNK_TOKENS = 2**18


@dataclass
class PackReport:
    """What packing kept and how full the packs are.

    Example:
        >>> ds = Dataset.from_dict({"input_ids": [[1, 2, 3], [4], [5, 6]], "labels": [[-100, 2, 3], [4], [-100, 6]]})
        >>> packed, report = pack(ds, 4, return_report=True)
        >>> report.rows_in, report.packs, round(report.fill_rate, 4)
        (3, 2, 0.75)
    """

    seq_length: int
    rows_in: int
    rows_packed: int
    dropped_overflow: int
    packs: int
    tokens: int

    @property
    def fill_rate(self) -> float:
        """Real tokens over ``packs * seq_length``."""
        return self.tokens / (self.packs * self.seq_length) if self.packs else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "fill_rate": round(self.fill_rate, 6)}

    def summary(self) -> str:
        return (
            f"packed {self.rows_packed} of {self.rows_in} rows into {self.packs} packs of {self.seq_length} tokens; "
            f"fill rate {self.fill_rate:.2%}; dropped as longer than seq_length: {self.dropped_overflow}"
        )


def _buckets(seq_length: int) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """Open bins by free room: ``ids[s]`` holds arrays of bin ids with ``s`` tokens free, ``count[s]`` their number."""
    return np.zeros(seq_length + 1, dtype=np.int64), [[] for _ in range(seq_length + 1)]


def _put(count, ids, space: int, bins: np.ndarray) -> None:
    if space > 0 and len(bins):  # a full bin (space 0) never takes another row
        ids[space].append(bins)
        count[space] += len(bins)


def _pop(count, ids, space: int) -> np.ndarray:
    bins = ids[space][0] if len(ids[space]) == 1 else np.concatenate(ids[space])
    ids[space], count[space] = [], 0
    return bins


def _place(count, ids, length: int, n: int, next_bin: int, seq_length: int) -> tuple[np.ndarray, int]:
    """Bin ids for ``n`` rows of ``length`` tokens (in placement order) and the next unused bin id."""
    out = []
    for space in (np.flatnonzero(count[length:]) + length).tolist():
        if n == 0:
            break
        per_bin = space // length
        bins = _pop(count, ids, space)
        used = min(n // per_bin, len(bins))
        out.append(np.repeat(bins[:used], per_bin))
        _put(count, ids, space - per_bin * length, bins[:used])
        n -= used * per_bin
        if used < len(bins) and n:  # the rows run out inside this bucket: one more bin takes the rest
            out.append(np.full(n, bins[used]))
            _put(count, ids, space - n * length, bins[used : used + 1])
            used, n = used + 1, 0
        _put(count, ids, space, bins[used:])
    if n:  # new bins, each filled with as many rows as fit
        per_bin = seq_length // length
        full, rest = divmod(n, per_bin)
        new = np.arange(next_bin, next_bin + full + (rest > 0))
        out.append(np.repeat(new[:full], per_bin))
        _put(count, ids, seq_length - per_bin * length, new[:full])
        if rest:
            out.append(np.full(rest, new[-1]))
            _put(count, ids, seq_length - rest * length, new[-1:])
        next_bin += len(new)
    return np.concatenate(out), next_bin


def best_fit_decreasing(lengths, seq_length: int, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Assign rows to bins of ``seq_length`` tokens: longest rows first, each into the tightest bin that fits.

    Args:
        lengths: row lengths, each in ``[1, seq_length]``.
        seq_length: bin capacity in tokens.
        seed: None keeps rows of equal length in index order; an int shuffles them first.

    Returns:
        ``(order, bin_starts)``: row indices grouped by bin (bins in the order they were opened, rows
        inside a bin in placement order, longest first) and each bin's offset in ``order``.

    Example:
        >>> best_fit_decreasing(np.array([3, 1, 2, 4]), 4)
        (array([3, 0, 1, 2]), array([0, 1, 3, 4]))
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    rows = np.arange(len(lengths)) if seed is None else np.random.default_rng(seed).permutation(len(lengths))
    rows = rows[np.argsort(-lengths[rows], kind="stable")]
    sorted_lengths = lengths[rows]
    cut = np.flatnonzero(np.diff(sorted_lengths)) + 1  # runs of equal length
    count, ids = _buckets(seq_length)
    bin_of = np.empty(len(rows), dtype=np.int64)
    next_bin = 0
    for a, b in zip([0, *cut.tolist()], [*cut.tolist(), len(rows)]):
        if b > a:
            bin_of[a:b], next_bin = _place(count, ids, int(sorted_lengths[a]), b - a, next_bin, seq_length)
    by_bin = np.argsort(bin_of, kind="stable")  # stable: rows keep their placement order inside a bin
    return rows[by_bin], np.concatenate([[0], np.cumsum(np.bincount(bin_of, minlength=next_bin))]).astype(np.int64)


def _ranges(starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + n)`` for each (s, n): a cumsum of steps that are 1 except at row starts."""
    if not len(lens):
        return np.zeros(0, dtype=np.int64)
    step = np.ones(int(lens.sum()), dtype=np.int64)
    step[0] = starts[0]
    step[np.cumsum(lens)[:-1]] = starts[1:] - (starts[:-1] + lens[:-1]) + 1
    return np.cumsum(step, out=step)


def _list(offsets: np.ndarray, values) -> pa.ListArray:
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values)


def _root(buf: pa.Buffer) -> pa.Buffer:
    while buf.parent is not None:
        buf = buf.parent
    return buf


def _cat(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


class _Column:
    """A list column's values, addressed in place: each row is a (region, start, length) triple.

    A memory-mapped record batch's buffers are slices of its file's mapping, so one numpy view of
    the mapping reaches every row of that file without copying the column (at 1M rows, combining the
    chunks first copied 2.3 GB and took 8.9 s of a 20.5 s pack). A chunk whose values are not
    an aligned slice of a larger buffer becomes a region of its own, copied.
    """

    def __init__(self, column: pa.ChunkedArray):
        self.regions: list[np.ndarray] = []
        by_root: dict[int, int] = {}
        starts, lens, region = [], [], []
        for arr in column.chunks:
            values = arr.values
            offsets = arr.offsets.to_numpy().astype(np.int64)
            dtype = np.dtype(values.type.to_pandas_dtype())
            data = values.buffers()[1] if values.null_count == 0 and pa.types.is_integer(values.type) else None
            root = _root(data) if data is not None and len(values) else None
            first = data.address + values.offset * dtype.itemsize if root is not None else 0
            if root is not None and (first - root.address) % dtype.itemsize == 0:
                key = (root.address, root.size, dtype.str)
                if key not in by_root:
                    by_root[key] = len(self.regions)
                    self.regions.append(np.frombuffer(root, dtype=dtype, count=root.size // dtype.itemsize))
                k, base = by_root[key], (first - root.address) // dtype.itemsize
            else:
                k, base = len(self.regions), 0
                self.regions.append(values.to_numpy(zero_copy_only=False))
            starts.append(offsets[:-1] + base)
            lens.append(np.diff(offsets))
            region.append(np.full(len(arr), k, dtype=np.int32))
        self.starts, self.lengths, self.region = _cat(starts, np.int64), _cat(lens, np.int64), _cat(region, np.int32)
        self.dtype = np.result_type(*[r.dtype for r in self.regions]) if self.regions else np.dtype(np.int32)

    def gather(self, physical: np.ndarray) -> np.ndarray:
        """These rows' values, concatenated in the order given: one numpy slice per row. At ~290 tokens a row
        this ran 3.5x faster than building a per-token index (ones + cumsum) and fancy-indexing with it."""
        ends = self.starts[physical] + self.lengths[physical]
        spans = zip(self.starts[physical].tolist(), ends.tolist())
        if len(self.regions) == 1:
            values = self.regions[0]
            parts = [values[a:b] for a, b in spans]
        else:
            regions = self.regions
            parts = [regions[k][a:b] for k, (a, b) in zip(self.region[physical].tolist(), spans)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=self.dtype)


class _Source:
    """The prepared dataset's token columns in place, addressed by dataset row (indices mapping applied)."""

    def __init__(self, dataset: Dataset):
        table = dataset.data.table
        self.table = table
        self.index = dataset._indices.column(0).to_numpy() if dataset._indices is not None else None
        self.columns = {c: _Column(table.column(c)) for c in TOKEN_COLUMNS}
        self.extras = [c for c in dataset.column_names if c not in (*TOKEN_COLUMNS, "length")]

    def rows(self, rows: np.ndarray) -> np.ndarray:
        return rows if self.index is None else self.index[rows]

    def gather(self, physical: np.ndarray) -> dict[str, np.ndarray]:
        """The token columns of these physical rows, concatenated."""
        return {c: self.columns[c].gather(physical) for c in TOKEN_COLUMNS}


def _lengths(dataset: Dataset, src: _Source) -> np.ndarray:
    """Row lengths from the list offsets (the truth), after checking labels line up with input_ids."""
    ids_len, labels_len = (src.columns[c].lengths for c in TOKEN_COLUMNS)
    if src.index is not None:
        ids_len, labels_len = ids_len[src.index], labels_len[src.index]
    bad = np.flatnonzero(ids_len != labels_len)
    if len(bad):
        r = int(bad[0])
        raise SFTPrepError(
            f"row {r}: labels has {labels_len[r]} tokens but input_ids has {ids_len[r]}; "
            "pack() expects a dataset from hf_sftprep.prepare(), where both have the same length."
        )
    return ids_len


def _check_lengths(lengths: np.ndarray, seq_length: int, overflow: str) -> np.ndarray:
    """Rows to pack; refuses empty rows, and rows longer than seq_length unless overflow='drop'."""
    empty = np.flatnonzero(lengths == 0)
    if len(empty):
        raise SFTPrepError(f"row {int(empty[0])} has no tokens ({len(empty)} rows are empty); filter them out before pack().")
    long = np.flatnonzero(lengths > seq_length)
    if len(long) and overflow == "error":
        r = int(long[0])
        raise SFTPrepError(
            f"row {r} has {int(lengths[r])} tokens, more than seq_length={seq_length} ({len(long)} rows are longer). "
            f"Re-run prepare(..., max_length={seq_length}) so every row fits, or pass overflow='drop' to leave "
            "them out (counted in the report)."
        )
    if len(long):
        logger.warning("hf_sftprep pack: dropped %d rows longer than seq_length=%d", len(long), seq_length)
    return np.flatnonzero(lengths <= seq_length)


def _features(dataset: Dataset) -> Features:
    feats = dataset.features
    out = {c: feats[c] for c in TOKEN_COLUMNS}
    out["seq_lengths"] = List(Value("int32"))
    out["length"] = Value("int32")
    for c in dataset.column_names:
        if c not in out:
            out[c] = List(feats[c])
    return Features(out)


def _pack_table(src: _Source, rows: np.ndarray, lengths: np.ndarray, bins: np.ndarray, features: Features) -> pa.Table:
    """One record batch: packs whose rows (dataset row numbers, packed order) are ``rows`` with bin offsets ``bins``."""
    tok_offsets = np.concatenate([[0], np.cumsum(lengths[rows])])[bins - bins[0]]
    seq_offsets = bins - bins[0]
    physical = src.rows(rows)
    columns = {c: _list(tok_offsets, values) for c, values in src.gather(physical).items()}
    columns["seq_lengths"] = _list(seq_offsets, pa.array(lengths[rows].astype(np.int32)))
    columns["length"] = pa.array(np.diff(tok_offsets).astype(np.int32))
    for c in src.extras:
        columns[c] = _list(seq_offsets, src.table.column(c).take(physical).combine_chunks())
    return pa.Table.from_pydict(columns).cast(features.arrow_schema)


def _chunks(bin_starts: np.ndarray, seq_length: int) -> list[tuple[int, int]]:
    per = max(1, CHUNK_TOKENS // seq_length)
    n = len(bin_starts) - 1
    return [(p, min(p + per, n)) for p in range(0, n, per)]


def _cache_path(dataset: Dataset, fp: str) -> str | None:
    if not dataset.cache_files or not is_caching_enabled():
        return None
    return os.path.join(os.path.dirname(dataset.cache_files[0]["filename"]), f"hf_sftprep-pack-{fp}.arrow")


def _write(dataset: Dataset, src: _Source, order, bin_starts, lengths, seq_length: int, fp: str, path: str | None) -> Dataset:
    features = _features(dataset)
    chunks = _chunks(bin_starts, seq_length)
    bar = tqdm(total=len(bin_starts) - 1, unit=" packs", desc="hf_sftprep: pack", disable=len(chunks) < 2)
    writer = ArrowWriter(features=features, path=path + ".tmp") if path else None
    tables = []
    for a, b in chunks:
        rows = order[bin_starts[a] : bin_starts[b]]
        t = _pack_table(src, rows, lengths, bin_starts[a : b + 1], features)
        if writer is None:
            tables.append(t)
        else:
            writer.write_table(t)
        bar.update(b - a)
    bar.close()
    if writer is None:
        table = pa.concat_tables(tables) if tables else features.arrow_schema.empty_table()
        return Dataset(InMemoryTable(table), fingerprint=fp)
    if not chunks:
        writer.write_table(features.arrow_schema.empty_table())
    writer.finalize()
    os.replace(path + ".tmp", path)
    out = Dataset.from_file(path)
    out._fingerprint = fp
    return out


def _report(packed: Dataset, seq_length: int, rows_in: int, dropped: int) -> PackReport:
    table = packed.data.table
    return PackReport(
        seq_length=seq_length,
        rows_in=rows_in,
        rows_packed=int(pc.sum(pc.list_value_length(table.column("seq_lengths"))).as_py() or 0),
        dropped_overflow=dropped,
        packs=packed.num_rows,
        tokens=int(pc.sum(table.column("length")).as_py() or 0),
    )


def _already_packed(dataset: Dataset, seq_length: int) -> str:
    lengths = np.asarray(dataset["length"]) if "length" in dataset.column_names else np.zeros(0, np.int64)
    biggest = f" of up to {int(lengths.max())} tokens" if len(lengths) else ""
    return (
        f"pack(..., {seq_length}) got a dataset that is already packed (it has a 'seq_lengths' column: "
        f"{dataset.num_rows} packs{biggest}). pack() takes the rows from prepare(): pack those, or train on the "
        "packed dataset as it is (build_trainer(..., packing=None))."
    )


def _pack_one(dataset, seq_length: int, strategy: str, seed, overflow: str, load_from_cache_file) -> tuple[Dataset, PackReport]:
    if not isinstance(dataset, Dataset):
        hint = " A streamed dataset cannot be packed: pack() needs every row's length." if isinstance(dataset, IterableDataset) else ""
        raise SFTPrepError(f"pack() got a {type(dataset).__name__}; expected a Dataset or DatasetDict from prepare().{hint}")
    missing = [c for c in TOKEN_COLUMNS if c not in dataset.column_names]
    if missing:
        raise SFTPrepError(
            f"pack() needs columns {missing} (found {dataset.column_names}); run hf_sftprep.prepare(raw, tokenizer) first."
        )
    if "seq_lengths" in dataset.column_names:
        raise SFTPrepError(_already_packed(dataset, seq_length))
    src = _Source(dataset)
    lengths = _lengths(dataset, src)
    keep = _check_lengths(lengths, seq_length, overflow)
    dropped = len(lengths) - len(keep)
    fp = Hasher.hash(["hf_sftprep.pack", __version__, dataset._fingerprint, seq_length, strategy, seed, overflow])
    path = _cache_path(dataset, fp)
    if path and os.path.exists(path) and load_from_cache_file is not False:
        packed = Dataset.from_file(path)
        packed._fingerprint = fp
    else:
        order, bin_starts = best_fit_decreasing(lengths[keep], seq_length, seed)
        if seed is not None:  # the packs in a seeded random order, not longest-first
            perm = np.random.default_rng(seed).permutation(len(bin_starts) - 1)
            sizes = np.diff(bin_starts)[perm]
            order = order[_ranges(bin_starts[perm], sizes)]
            bin_starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        packed = _write(dataset, src, keep[order], bin_starts, lengths, seq_length, fp, path)
    report = _report(packed, seq_length, len(lengths), dropped)
    logger.info("hf_sftprep: %s", report.summary())
    return packed, report


def pack(
    prepared: Dataset | DatasetDict,
    seq_length: int,
    *,
    strategy: str = "bfd",
    seed: int | None = None,
    overflow: str = "error",
    return_report: bool = False,
    load_from_cache_file: bool | None = None,
):
    """Pack prepared rows into sequences of at most ``seq_length`` tokens, best fit, longest first.

    Each output row is a pack: ``input_ids`` and ``labels`` are its sequences concatenated, each
    sequence's labels exactly as prepared; ``seq_lengths`` lists the sequence lengths (the column
    TRL's collator also reads) and ``length`` their sum. :class:`SFTDataCollator` turns
    ``seq_lengths`` into ``position_ids`` that restart per sequence and masks the first label of each
    sequence, so neither attention nor loss crosses a boundary. Any other column (say ``source``)
    becomes a list with one entry per sequence, in the order of ``seq_lengths``.

    Args:
        prepared: a ``Dataset`` or ``DatasetDict`` from :func:`hf_sftprep.prepare`.
        seq_length: the pack size in tokens.
        strategy: only ``"bfd"`` (best-fit decreasing over the whole dataset).
        seed: None packs equal-length rows in index order and returns packs longest-first; an int
            shuffles equal-length rows before packing and the packs after it, reproducibly.
        overflow: a row longer than ``seq_length`` is an error (``"error"``) or left out and counted
            (``"drop"``); it is never truncated.
        return_report: also return a :class:`PackReport` (a dict of them for a DatasetDict).
        load_from_cache_file: False rebuilds even when the fingerprinted cache file exists.

    Returns:
        The packed dataset; with ``return_report``, ``(dataset, report)``.

    Example:
        >>> ds = Dataset.from_dict({"input_ids": [[1, 2, 3], [4], [5, 6]], "labels": [[-100, 2, 3], [4], [-100, 6]]})
        >>> pack(ds, 4)[:]
        {'input_ids': [[1, 2, 3, 4], [5, 6]], 'labels': [[-100, 2, 3, 4], [-100, 6]], 'seq_lengths': [[3, 1], [2]], 'length': [4, 2]}
    """
    check_choice("strategy", strategy, PackStrategy)
    check_choice("overflow", overflow, PackOverflow)
    if isinstance(seq_length, bool) or not isinstance(seq_length, (int, np.integer)) or seq_length < 1:
        raise OptionError(f"seq_length={seq_length!r}; expected a positive int such as 4096.")
    seq_length = int(seq_length)
    if isinstance(prepared, DatasetDict):
        results = {k: _pack_one(d, seq_length, strategy, seed, overflow, load_from_cache_file) for k, d in prepared.items()}
        out = DatasetDict({k: r[0] for k, r in results.items()})
        return (out, {k: r[1] for k, r in results.items()}) if return_report else out
    out, report = _pack_one(prepared, seq_length, strategy, seed, overflow, load_from_cache_file)
    return (out, report) if return_report else out
