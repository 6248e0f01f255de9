"""build_mixture(): many sources, one prepared dataset with a ``source`` column and a per-source report.

Each source is read, checked and prepared with :func:`prepare` (so each is cached on its own
fingerprint), then exact duplicates are removed across sources, each source's share is drawn
with the seed, and the rows are concatenated, shuffled, split and optionally packed.
"""

from __future__ import annotations

import importlib.util
import logging
import zlib
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pyarrow as pa
from datasets import Dataset, DatasetDict, Features, List, Value, concatenate_datasets
from datasets.fingerprint import Hasher

from ..errors import RowError, SFTPrepError
from ..records.detect import detect_format
from ..records.formats import FORMATS
from .prepare import prepare
from .recipe import Recipe, Source, check_rows, parse_recipe
from .split import HOW, check_test_size, split_rows
from .stats import PrepReport, _percentiles, trained_per_row

logger = logging.getLogger("hf_sftprep")


# -- per-source system prompt --------------------------------------------------------------------
class AddSystemPrompt:
    """Batched map function: put a system message first in rows that have none (picklable, hashable).

    Rows of a format without a chat layout (Alpaca) become chat ``messages``; a row its reader rejects raises
    (``on_invalid='error'``) or becomes a placeholder that the chat reader rejects for the same reason, so drop
    counts match.
    """

    def __init__(self, fmt: str, text: str, role_map: dict | None = None, on_invalid: str = "error",
                 parts: bool = False):
        self.fmt, self.text, self.role_map, self.on_invalid = fmt, text, role_map or {}, on_invalid
        # content stored as a list of parts (an Arrow list of structs) takes the system prompt as one text part
        self.content = [{"type": "text", "text": text}] if parts else text

    def _chat(self, messages, role_key: str, content_key: str, names: dict):
        if not isinstance(messages, list):
            return messages
        if any(isinstance(m, dict) and names.get(m.get(role_key)) == "system" for m in messages):
            return messages
        return [{role_key: "system", content_key: self.content}, *messages]

    def _plain(self, row: int, record: dict) -> list[dict]:
        try:
            messages = FORMATS[self.fmt].convert(row, record, None, False).messages
        except RowError as err:
            if self.on_invalid == "error":
                raise
            if err.reason == "empty_answer":
                return [{"role": "user", "content": "-"}, {"role": "assistant", "content": ""}]
            return [{"role": "user", "content": None}, {"role": "assistant", "content": "-"}]  # bad_content
        if messages[0]["role"] == "system":  # the row's own system column
            return messages
        return [{"role": "system", "content": self.text}, *messages]

    def __call__(self, batch: dict, indices: list[int]) -> dict:
        chat = FORMATS[self.fmt].chat
        if chat is not None:
            names = chat.roles(self.role_map)
            # a row whose system column is set has its own system prompt
            own = batch.get(FORMATS[self.fmt].system) or [None] * len(indices)
            return {chat.column: [m if s else self._chat(m, chat.role_key, chat.content_key, names)
                                  for m, s in zip(batch[chat.column], own)]}
        records = [{c: batch[c][i] for c in batch} for i in range(len(indices))]
        return {"messages": [self._plain(row, rec) for row, rec in zip(indices, records)]}


# -- exact duplicates -------------------------------------------------------------------------------
def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, in place: a bijection on uint64 that spreads every input bit (wraps mod 2**64)."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def _flat(ids: pa.ChunkedArray | pa.ListArray) -> tuple[np.ndarray, np.ndarray]:
    arr = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    offsets = arr.offsets.to_numpy().astype(np.int64)
    values = arr.values.to_numpy(zero_copy_only=False)[offsets[0] : offsets[-1]]
    return values, offsets - offsets[0]


def row_hashes(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """One uint64 per row from its token ids and their positions, without a Python loop over rows.

    Example:
        >>> h = row_hashes(np.array([5, 6, 5, 6, 6, 5]), np.array([0, 2, 4, 6]))
        >>> bool(h[0] == h[1]), bool(h[0] == h[2])
        (True, False)
    """
    lengths = np.diff(offsets)
    # ids < 2**32 and positions < 2**32, so (position << 32 | id) is unique per token slot; in-place
    # steps keep this at ~0.13 s for 7.1M tokens (22k rows) on this machine
    h = np.arange(len(values), dtype=np.uint64)
    h -= np.repeat(offsets[:-1].astype(np.uint64), lengths)
    h <<= np.uint64(32)
    h |= values.astype(np.uint64)
    _mix64(h)
    csum = np.zeros(len(h) + 1, dtype=np.uint64)
    np.cumsum(h, out=csum[1:])
    return _mix64((csum[offsets[1:]] - csum[offsets[:-1]]) ^ lengths.astype(np.uint64))


def duplicate_groups(parts: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Per row of all parts (in order), the index of the first row with equal ids (its own index if none).

    Candidates come from the hashes and are confirmed by comparing the ids, so a hash collision
    (p ~ rows**2 / 2**64) keeps both rows apart rather than merging distinct ones.

    Example:
        >>> duplicate_groups([(np.array([5, 6, 5, 6, 7]), np.array([0, 2, 4, 5]))]).tolist()
        [0, 0, 2]
    """
    keys = np.concatenate([row_hashes(v, o) for v, o in parts]) if parts else np.zeros(0, np.uint64)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    earlier = first[inverse.ravel()]
    starts = np.cumsum([0] + [len(o) - 1 for _, o in parts])
    for k in np.flatnonzero(earlier != np.arange(len(keys))):
        (pa_, ia), (pb, ib) = _locate(starts, int(k)), _locate(starts, int(earlier[k]))
        va, oa = parts[pa_]
        vb, ob = parts[pb]
        if not np.array_equal(va[oa[ia] : oa[ia + 1]], vb[ob[ib] : ob[ib + 1]]):
            earlier[k] = k
    return earlier


def duplicate_mask(parts: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """Per part (in order), True for rows whose ids equal an earlier row's, across all parts."""
    groups = duplicate_groups(parts)
    dup = groups != np.arange(len(groups))
    starts = np.cumsum([0] + [len(o) - 1 for _, o in parts])
    return [dup[starts[i] : starts[i + 1]] for i in range(len(parts))]


def _locate(starts: np.ndarray, k: int) -> tuple[int, int]:
    part = int(np.searchsorted(starts, k, side="right") - 1)
    return part, k - int(starts[part])


# -- shares -----------------------------------------------------------------------------------------
def share_indices(source: Source, rows: np.ndarray, seed: int) -> np.ndarray:
    """Which of ``rows`` (repeats allowed) go into the mixture; the same for the same seed and name.

    Example:
        >>> share_indices(Source("a", epochs=1.5), np.arange(4), seed=0).tolist()
        [0, 1, 2, 3, 0, 2]
    """
    rng = np.random.default_rng([seed, zlib.crc32(source.name.encode())])
    n = len(rows)

    def draw(k: int) -> np.ndarray:
        return rows[np.sort(rng.choice(n, size=k, replace=False))]

    if source.take is not None:
        return draw(source.take)
    if source.fraction is not None:
        return draw(int(round(source.fraction * n)))
    if source.epochs is not None:
        full = int(source.epochs)
        return np.concatenate([np.tile(rows, full), draw(int(round((source.epochs - full) * n)))])
    return rows


# -- loading ----------------------------------------------------------------------------------------
def load_source(source: Source) -> Dataset:
    """The raw rows of one source: local files through ``datasets.load_dataset``, or a hub dataset."""
    import datasets

    if source.files is not None:
        try:  # files hold one split, "train"; a slice of it ("train[:20%]", Axolotl's split:) is read as datasets reads it
            return datasets.load_dataset(source.builder, data_files=source.files, split=source.split)
        except ValueError as err:
            raise SFTPrepError(f"recipe: source {source.name!r}: split {source.split!r}: {' '.join(str(err).split())} "
                               "Local files hold one split, 'train'; write split: train, or a slice such as "
                               "train[:20%].") from None
    try:
        return datasets.load_dataset(source.hub, split=source.split)
    except Exception as err:  # offline, unknown name, gated, ...
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SFTPrepError(f"recipe: source {source.name!r}: cannot load hub dataset {source.hub!r} "
                           f"(split {source.split!r}): {first}") from None


def _check_source(source: Source, raw: Dataset) -> str:
    try:
        fmt = detect_format(raw.column_names, source.options["format"], source.options.get("column_map"), raw.features)
    except SFTPrepError as err:
        raise SFTPrepError(f"recipe: source {source.name!r}: {err} Or set format: in the source.") from None
    if source.system_prompt is not None and fmt not in FORMATS:
        raise SFTPrepError(f"recipe: source {source.name!r}: system_prompt works on messages, conversations or "
                           f"Alpaca rows, not on a column_map source; add a 'system' entry to column_map instead.")
    check_rows(source, raw.num_rows)
    return fmt


# -- the report -------------------------------------------------------------------------------------
@dataclass
class MixtureReport:
    """The whole mixture (``total``) and, per source name, what came in, what was removed and its share.

    Example:
        >>> ds, report = build_mixture("mix.yaml", return_report=True)
        >>> report.sources["alpaca"]["rows_out"], report.sources["alpaca"]["duplicates"]
        (40, 2)
    """

    total: PrepReport
    sources: dict[str, dict] = field(default_factory=dict)
    duplicates: int = 0
    splits: dict[str, dict] = field(default_factory=dict)
    packing: dict[str, object] = field(default_factory=dict)  # split -> PackReport
    split: str | None = None  # how the test split was made

    def to_dict(self) -> dict:
        out = {**self.total.to_dict(), "duplicates": self.duplicates, "sources": self.sources}
        if self.splits:
            out["splits"], out["split"] = self.splits, self.split
        for split, packed in self.packing.items():  # where hf-sftprep build --pack puts it
            (out["splits"][split] if self.splits else out)["packing"] = packed.to_dict()
        return out

    def summary(self) -> str:
        """The mixture's totals, then one line per source."""
        head = (f"{'source':<14}{'rows in':>9}{'dropped':>9}{'dups':>7}{'rows out':>10}{'tokens':>12}{'share':>8}"
                f"{'trained':>11}{'p50/p90/max':>17}")
        lines = [self.total.summary(), f"duplicates removed: {self.duplicates}", head]
        for name, s in self.sources.items():
            lp = s["length_percentiles"]
            lines.append(
                f"{name[:13]:<14}{s['rows_in']:>9,}{sum(s['dropped'].values()):>9,}{s['duplicates']:>7,}"
                f"{s['rows_out']:>10,}"
                f"{s['tokens']:>12,}{s['share']:>8.1%}{s['trained_tokens']:>11,}"
                f"{'/'.join(str(lp.get(k, '-')) for k in ('p50', 'p90', 'max')):>17}"
            )
        lines += [f"[{k}] {v['rows_out']:,} rows, {v['tokens']:,} tokens" for k, v in self.splits.items()]
        lines += [f"split: {self.split}"] if self.splits else []
        lines += [f"[{k}] {p.summary()}" for k, p in self.packing.items()]
        return "\n".join(lines)


# counted over each source's prepared rows (before dedupe and shares), then summed
_ROW_COUNTS = [f.name for f in fields(PrepReport) if f.type in ("int", int)
               and f.name not in ("rows_in", "rows_out", "tokens", "trained_tokens")]


def _counts(report: PrepReport) -> dict[str, int]:
    return {name: getattr(report, name) for name in _ROW_COUNTS}


def _total(reports: list[PrepReport], lengths: np.ndarray, trained: np.ndarray) -> PrepReport:
    dropped: Counter = Counter()
    for r in reports:
        dropped.update(r.dropped)
    first = reports[0]
    return PrepReport(
        rows_in=sum(r.rows_in for r in reports), rows_out=int(len(lengths)), dropped=dict(sorted(dropped.items())),
        tokens=int(lengths.sum()), trained_tokens=int(trained.sum()),
        **{name: sum(getattr(r, name) for r in reports) for name in _ROW_COUNTS},
        length_percentiles=_percentiles(lengths),
        trained_fraction_percentiles=_percentiles(trained / np.maximum(lengths, 1), cast=lambda x: round(float(x), 4)),
        assistant_header=first.assistant_header, assistant_header_ids=first.assistant_header_ids,
        end_of_turn=first.end_of_turn, end_of_turn_ids=first.end_of_turn_ids,
    )


# -- the build --------------------------------------------------------------------------------------
def _pack_function(recipe: Recipe):
    if recipe.pack is None:
        return None
    if importlib.util.find_spec("hf_sftprep.datasets.pack") is None:
        raise SFTPrepError("recipe: pack is set, but this version of hf_sftprep has no packing "
                           "(hf_sftprep.datasets.pack); remove pack: from the recipe.")
    from .pack import pack

    return pack


def _content_is_parts(features, fmt: str) -> bool:
    """Whether a chat column stores message content as a list of parts, e.g. ``[{"type": "text", ...}]``."""
    chat = FORMATS[fmt].chat if fmt in FORMATS else None
    message = getattr(features.get(chat.column), "feature", None) if chat else None
    content = message.get(chat.content_key) if isinstance(message, dict) else None
    return isinstance(content, (List, list)) or type(content).__name__ in ("Sequence", "LargeList")


def _prepare_source(source: Source, fmt: str, raw: Dataset, tok, recipe: Recipe) -> tuple[Dataset, PrepReport]:
    if source.system_prompt is not None:
        add = AddSystemPrompt(fmt, source.system_prompt, source.options.get("role_map"), recipe.on_invalid,
                              parts=_content_is_parts(raw.features, fmt))
        # a format without a chat layout is rewritten as chat messages, so its own columns go
        plain = FORMATS[fmt].chat is None
        drop = [c for c in FORMATS[fmt].columns if plain and c in raw.column_names]
        raw = raw.map(add, batched=True, with_indices=True, remove_columns=drop,
                      features=None if plain else raw.features,
                      desc=f"hf_sftprep [{source.name}]: system prompt")
    options = dict(source.options)
    if source.system_prompt is not None and FORMATS[fmt].chat is None:
        options["format"] = "auto"  # the rows are chat messages now
    return prepare(raw, tok, max_length=recipe.max_length, num_proc=recipe.num_proc, return_report=True,
                   on_invalid=recipe.on_invalid, train_on=recipe.train_on, **options)


def build_mixture(recipe: dict | str | Path, *, return_report: bool = False):
    """Prepare every source of a recipe and mix them into one dataset with a ``source`` column.

    The whole recipe is checked first (keys, paths, formats, shares, tokenizer); each source is then
    prepared with :func:`prepare` and cached on its own fingerprint, so editing one source re-prepares
    only that source.

    Args:
        recipe: a dict, or the path of a YAML / JSON recipe file (relative paths inside it are read
            from its folder).
        return_report: also return a :class:`MixtureReport`.

    Returns:
        A ``Dataset`` (a ``DatasetDict`` with train/test when ``test_size`` is set); with
        ``return_report``, ``(dataset, report)``.

    Example:
        >>> ds = build_mixture({"tokenizer": "./tok", "seed": 0, "dedupe": True,
        ...                     "sources": [{"path": "chats.jsonl"}, {"path": "alpaca.json", "take": 40}]})
        >>> sorted(set(ds["source"]))
        ['alpaca', 'chats']
    """
    out, report, _ = run_recipe(recipe)
    return (out, report) if return_report else out


def run_recipe(recipe: dict | str | Path | Recipe):
    """:func:`build_mixture`'s work: returns ``(dataset, report, tokenizer)`` (the CLI saves the tokenizer)."""
    from ..sources import load_tokenizer

    plan = recipe if isinstance(recipe, Recipe) else parse_recipe(recipe)
    pack = _pack_function(plan)
    try:
        tok = load_tokenizer(plan.tokenizer, plan.chat_template)
    except SFTPrepError as err:
        raise SFTPrepError(f"recipe: tokenizer {plan.tokenizer!r}: {err}") from None
    raws = [load_source(s) for s in plan.sources]
    raws = [raw if s.convert is None else s.convert.apply(raw, s.name) for s, raw in zip(plan.sources, raws)]
    formats = [_check_source(s, raw) for s, raw in zip(plan.sources, raws)]
    prepared = [_prepare_source(s, f, raw, tok, plan) for s, f, raw in zip(plan.sources, formats, raws)]
    tables = [ds.with_format("arrow")[:] for ds, _ in prepared]
    starts = np.cumsum([0] + [t.num_rows for t in tables])
    if plan.dedupe or plan.test_size is not None:  # the split keeps equal rows on one side, so it needs them too
        groups = duplicate_groups([_flat(t.column("input_ids")) for t in tables])
    else:
        groups = np.arange(starts[-1])
    dups = [(groups != np.arange(len(groups)))[a:b] if plan.dedupe else np.zeros(b - a, bool)
            for a, b in zip(starts[:-1], starts[1:])]
    picks = [_pick(s, r, dup, plan.seed) + a for s, (_, r), dup, a in zip(plan.sources, prepared, dups, starts)]
    order, bounds = _order(plan, np.concatenate(picks), groups, starts)
    rows = _rows(order, tables, starts)
    if not len(order):
        raise SFTPrepError("recipe: every row of every source was dropped "
                           f"({', '.join(f'{s.name!r}: {r.dropped}' for s, (_, r) in zip(plan.sources, prepared))}); "
                           "nothing to mix. Fix the data, or raise max_length if the rows were too_long.")
    out: Dataset | DatasetDict = concatenate_datasets(_with_source(plan, prepared)).select(order)
    if len(bounds) > 1:
        out = DatasetDict({split: out.select(range(a, b)) for split, (a, b) in bounds.items()})
    report = _report(plan, prepared, dups, rows, bounds)
    if pack is not None:  # after the split, so a test row is never packed with training rows
        out, packed = pack(out, plan.pack, seed=plan.seed, return_report=True)
        report.packing = packed if isinstance(packed, dict) else {"train": packed}
    logger.info("hf_sftprep mixture: %s", report.summary().replace("\n", "; "))
    return out, report, tok


def _order(plan: Recipe, picks: np.ndarray, groups: np.ndarray, starts: np.ndarray):
    """The mixture's rows (indices into the concatenated sources) in their final order, and each split's
    (start, stop) in it: train first, then test, each shuffled with the seed."""
    rng = np.random.default_rng(plan.seed)
    shuffle = (lambda x: x[rng.permutation(len(x))]) if plan.shuffle else (lambda x: x)
    if plan.test_size is None:
        return shuffle(picks), {"train": (0, len(picks))}
    source = np.searchsorted(starts, picks, side="right") - 1
    n_test = check_test_size(plan.test_size, groups[picks], source, [s.name for s in plan.sources])
    train, test = split_rows(picks, groups, n_test, plan.seed)
    train, test = shuffle(train), shuffle(test)
    return np.concatenate([train, test]), {"train": (0, len(train)), "test": (len(train), len(train) + len(test))}


def _with_source(plan: Recipe, prepared) -> list[Dataset]:
    """Each prepared source with the columns that every source has (with one type), plus ``source``."""
    sets = [ds for ds, _ in prepared]
    first = sets[0].features
    common = [c for c in first if c != "source" and all(c in d.features and d.features[c] == first[c] for d in sets)]
    left = sorted({c for d in sets for c in d.column_names} - set(common))
    if left:
        logger.warning("hf_sftprep mixture: columns %s are not in every source with one type (or are named "
                       "'source'), so the mixture leaves them out", left)
    return [_add_source(d.select_columns(common), s.name) for s, d in zip(plan.sources, sets)]


def _add_source(ds: Dataset, name: str) -> Dataset:
    if ds.num_rows == 0:  # every row dropped: datasets' add_column fails on a 0-row slice of a concatenated table
        features = Features({**ds.features, "source": Value("string")})
        return Dataset.from_dict({c: [] for c in features}, features=features)
    # an explicit fingerprint: otherwise datasets pickles the whole column to hash it (~0.35 s for 22k rows)
    return ds.add_column("source", [name] * ds.num_rows, new_fingerprint=Hasher.hash([ds._fingerprint, name]))


def _pick(source: Source, report: PrepReport, dup: np.ndarray, seed: int) -> np.ndarray:
    rows = np.flatnonzero(~dup)
    if source.take is not None and source.take > len(rows):
        raise SFTPrepError(
            f"recipe: source {source.name!r}: take: {source.take} but only {len(rows)} rows remain after "
            f"{report.rows_in - report.rows_out} were dropped ({report.dropped}) and {int(dup.sum())} duplicates "
            "removed; lower take, or replace it with epochs: to repeat the source.")
    check_rows(source, len(rows), f" left after {report.rows_in - report.rows_out} were dropped and "
                                  f"{int(dup.sum())} duplicates removed")
    return share_indices(source, rows, seed)


def _rows(order: np.ndarray, tables: list[pa.Table], starts: np.ndarray) -> dict[str, np.ndarray]:
    """Per mixture row, in the final order: its index in the concatenated sources, source, length, trained."""
    length = np.concatenate([t.column("length").to_numpy() for t in tables]).astype(np.int64)
    trained = np.concatenate([trained_per_row(t.column("labels")) for t in tables])
    return {"order": order, "source": np.searchsorted(starts, order, side="right") - 1,
            "length": length[order], "trained": trained[order]}


def _usage(names: list[str], source: np.ndarray, lengths: np.ndarray, trained: np.ndarray) -> dict[str, dict]:
    """Per source: rows, tokens and trained tokens in (part of) the mixture, and their shares."""
    total, total_trained = max(int(lengths.sum()), 1), max(int(trained.sum()), 1)
    out = {}
    for i, name in enumerate(names):
        mine = source == i
        tokens, n_trained = int(lengths[mine].sum()), int(trained[mine].sum())
        out[name] = {"rows_out": int(mine.sum()), "tokens": tokens, "trained_tokens": n_trained,
                     "share": round(tokens / total, 6), "trained_share": round(n_trained / total_trained, 6),
                     "length_percentiles": _percentiles(lengths[mine])}
    return out


def _report(plan: Recipe, prepared, dups, rows: dict, bounds: dict) -> MixtureReport:
    names = [s.name for s in plan.sources]
    reports = [r for _, r in prepared]
    usage = _usage(names, rows["source"], rows["length"], rows["trained"])
    sources = {
        name: {"rows_in": r.rows_in, "dropped": r.dropped, "rows_prepared": r.rows_out, "duplicates": int(dup.sum()),
               **_counts(r), **usage[name]}
        for name, r, dup in zip(names, reports, dups)
    }
    splits = {}
    if len(bounds) > 1:
        for split, (a, b) in bounds.items():
            part = {k: v[a:b] for k, v in rows.items()}
            total = _total(reports, part["length"], part["trained"])
            total.rows_in, total.dropped = b - a, {}
            for name in _ROW_COUNTS:  # known per source, not per mixture row
                setattr(total, name, None)
            usage = _usage(names, part["source"], part["length"], part["trained"])
            splits[split] = {**total.to_dict(), "sources": usage}
    total = _total(reports, rows["length"], rows["trained"])
    how = HOW.format(seed=plan.seed) if splits else None
    return MixtureReport(total, sources, int(sum(d.sum() for d in dups)), splits, split=how)
