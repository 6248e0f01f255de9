"""verify(): check a prepared dataset row by row against ``apply_chat_template`` and the prefix-render reference.

For each sampled row the record it was prepared from is normalized by the record layer (the same
``to_conversation`` and tool-call adaptations as ``prepare()``), rendered with
``tokenizer.apply_chat_template`` itself, encoded with the plain tokenizer call, and labelled by
:func:`~hf_sftprep.templates.row_reference.row_regions` (the independent prefix-render rule on the row's own
text) through character offsets. None of the probe, the token search, the shape verdicts, the fast renderer
or the fast tokenizer backend is on this path, so a difference is a bug in one of them (or a dataset that
was changed after it was prepared).

Prepared rows are paired with their records by position: ``prepare()`` keeps row order and only drops.
When rows were dropped, which ones is read from prepare()'s own map over ``raw`` (its meta columns, loaded
from the datasets cache when prepare() wrote one with the same options), and the number of kept rows must
equal the prepared dataset's.

Example:
    >>> ds = prepare(raw, tok)
    >>> report = verify(ds, tok, raw=raw, sample=None)
    >>> report.matching, report.differing, report.not_attributable
    (2, 0, 0)
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field
from typing import Literal, NamedTuple

import numpy as np
from datasets import Dataset

from ..errors import RowError, SFTPrepError
from ..records.alpaca import stanford_prompt
from ..records.detect import detect_format
from ..templates.reference import conversation_openers
from ..templates.render import special_pattern
from ..templates.row_reference import TEXT_KEYS, row_anchors, row_regions
from ..templates.shapes import added_token_splitter
from ..tokens.eot import closing_mask, occurrence_starts
from ..tokens.exact import special_token_ends
from ..tokens.masking import IGNORE_INDEX
from ..tokens.stanford import split_ids
from .prepare import fingerprint, null_features
from .preprocess import SFTPreprocessor
from .schema import FEATURES
from .stats import kept_mask

Kind = Literal["input_ids", "labels"]


class Unattributed(NamedTuple):
    """Why the reference has no labels for a record: a short stable ``key`` and the reason in words."""

    key: Literal["record_refused", "template_refuses", "split_content", "prefix_renders", "rendering_differs",
                 "text_elsewhere"]
    why: str
_SHOWN_CHARS = 240  # per side of a shown difference: enough for a sentence around the changed tokens


@dataclass
class RowDifference:
    """One prepared row that differs from the reference.

    ``row`` is its index in the prepared dataset, ``record`` the index of the record in ``raw``; ``prepared``
    and ``reference`` are the trained text each side has where they differ (decoded runs, ``|`` between runs).
    """

    row: int
    record: int
    kind: Kind
    detail: str
    prepared: str
    reference: str

    def describe(self) -> str:
        return (f"row {self.row} (record {self.record}): {self.kind} differ: {self.detail}\n"
                f"  prepared trains:  {self.prepared}\n  reference trains: {self.reference}")


@dataclass
class VerifyReport:
    """How many sampled rows match the reference, differ from it, or cannot be attributed by it.

    Example:
        >>> print(verify(prepare(raw, tok), tok, raw=raw, sample=None).summary())
        verify: 2 of 2 rows checked against apply_chat_template and the prefix-render reference
          matching             2
          input_ids differ     0
          labels differ        0
          not attributable     0
    """

    rows: int = 0
    checked: int = 0
    matching: int = 0
    ids_differ: int = 0
    labels_differ: int = 0
    not_attributable: int = 0
    differences: list[RowDifference] = field(default_factory=list)
    # (prepared row, record, why) of the first rows the reference could not attribute
    unattributed: list[tuple[int, int, str]] = field(default_factory=list)
    # how many rows the reference could not attribute, per Unattributed key
    unattributed_reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def differing(self) -> int:
        return self.ids_differ + self.labels_differ

    @property
    def ok(self) -> bool:
        """True when no checked row differs (rows the reference cannot attribute are not differences)."""
        return self.differing == 0

    def to_dict(self) -> dict:
        return {**asdict(self), "differing": self.differing}

    def summary(self) -> str:
        counts = [("matching", self.matching), ("input_ids differ", self.ids_differ),
                  ("labels differ", self.labels_differ), ("not attributable", self.not_attributable)]
        width = max(len(str(n)) for _, n in counts)
        lines = [f"verify: {self.checked} of {self.rows} rows checked against apply_chat_template and the "
                 "prefix-render reference"]
        lines += [f"  {name:<17}{n:>{width + 2}}" for name, n in counts]
        if self.unattributed_reasons:
            reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.unattributed_reasons.items()))
            lines.append(f"  not attributable by reason: {reasons}")
        lines += [d.describe() for d in self.differences]
        lines += [f"row {r} (record {rec}): not attributable: {why}" for r, rec, why in self.unattributed]
        return "\n".join(lines)


class _Reference:
    """The reference's ``(ids, labels)`` of one record, or the reason it has none."""

    def __init__(self, pre: SFTPreprocessor, fmt: str):
        self.pre, self.fmt, self.tokenizer = pre, fmt, pre.tokenizer
        self.options = pre.options
        tok = self.tokenizer
        self.pattern = special_pattern(tok)
        self.split = added_token_splitter(tok)
        self.special = {i for i, t in tok.added_tokens_decoder.items() if t.special}
        self.openers = None
        if pre.rows.stanford(fmt) is False and getattr(tok, "chat_template", None):
            self.openers = conversation_openers(self._renderer(None), self.pattern, "zq0x")

    def _renderer(self, tools):
        tok = self.tokenizer

        def render(messages, add_generation_prompt=False):
            try:
                return tok.apply_chat_template(messages, tools=tools, tokenize=False,
                                               add_generation_prompt=add_generation_prompt)
            except Exception:  # noqa: BLE001 - any template refusal: the prefix cannot be rendered
                return None

        return render

    def __call__(self, record_index: int, record: dict) -> tuple[list[int], list[int]] | Unattributed:
        try:
            if self.pre.rows.stanford(self.fmt):
                ids, labels = self._stanford(record_index, record)
            else:
                got = self._chat(record_index, record)
                if isinstance(got, Unattributed):
                    return got
                ids, labels = got
        except RowError as err:
            return Unattributed("record_refused", f"the record layer refuses the record ({err.reason}: {err.detail})")
        return self._truncate(ids, labels)

    def _chat(self, row: int, record: dict):
        conv = self.pre.rows.conversation(self.fmt, row, record)
        render = self._renderer(conv.tools)
        text = render(conv.messages, False)
        if text is None:
            return Unattributed("template_refuses", "apply_chat_template refuses the record")
        if self.options.special_tokens_in_content == "split" and self.pattern is not None and any(
                isinstance(m.get("content"), str) and self.pattern.search(m["content"]) for m in conv.messages):
            return Unattributed("split_content", "special_tokens_in_content='split' encodes control-string text "
                                "in the content as plain text")
        if self.options.train_on_inputs:
            spans = [(0, len(text))]
        else:
            trained = [bool(t) and m.get("role") == "assistant" for m, t in zip(conv.messages, conv.trained)]
            ref = row_regions(render, conv.messages, trained, self.pattern, self.split, self.openers,
                              self.options.train_on == "last")
            if ref is None:
                return Unattributed("prefix_renders", "its prefix renderings cannot be attributed to its messages")
            if ref[0] != text:
                return Unattributed("rendering_differs", "the reference's rendering differs from "
                                    "apply_chat_template's on the whole record")
            spans = ref[1]
            misplaced = _out_of_order(text, conv.messages, trained, spans, self.options.train_on == "last")
            if misplaced is not None:
                return misplaced
        ids, labels = self._labels(text, spans, add_special_tokens=False)
        return self._eot_mode(render, text, conv.messages, ids, labels)

    def _eot_mode(self, render, text: str, messages: list[dict], ids: list[int], labels: list[int]):
        """``train_on_eot`` other than "turn", applied to the reference's labels by the library's own rule
        (tokens/eot.py); the end-of-turns before the first message's content (the last occurrence of it in
        the rendering of that message alone) are the template's default block, not the row's."""
        mode, spec = self.options.train_on_eot, self.pre.spec
        if mode == "turn" or self.options.train_on_inputs:
            return ids, labels
        first, one = messages[0].get("content"), render(messages[:1], False)
        # the first message's content is the last occurrence of it in the one-message rendering
        at = one.rfind(first) if isinstance(first, str) and first and one else -1
        lead = len(occurrence_starts(np.asarray(self.tokenizer(text[:at], add_special_tokens=False)["input_ids"]),
                                     spec.end_of_turn_ids)) if at > 0 and text.startswith(one[:at]) else 0
        arr = np.asarray(ids)
        mask = closing_mask(arr, np.asarray(labels) != IGNORE_INDEX, spec.end_of_turn_ids, spec.trailer_ids, mode,
                            spec.open_end, lead)
        if mask is None:
            raise RowError(-1, "eot_not_found", "a trained turn does not end with the end-of-turn")
        return ids, np.where(mask, arr, IGNORE_INDEX).tolist()

    def _stanford(self, row: int, record: dict):
        prompt, output = stanford_prompt(row, record)
        text = prompt + output + self.tokenizer.eos_token
        spans = [(0, len(text))] if self.options.train_on_inputs else [(len(prompt), len(text))]
        ids, labels = self._labels(text, spans, add_special_tokens=True)
        enc = self.tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)["offset_mapping"]
        if any(a < len(prompt) < b for a, b in enc):  # a token straddles the prompt's end: prompt ids, then the response's
            split = split_ids(self.tokenizer, prompt, text[len(prompt):], ids)
            if split is not None:
                ids, head = split
                labels = list(ids) if self.options.train_on_inputs else [IGNORE_INDEX] * head + list(ids[head:])
        return ids, labels

    def _labels(self, text: str, spans: list[tuple[int, int]], add_special_tokens: bool):
        """A token is trained when it lies wholly inside a span; a special token's end leaves out the
        whitespace it swallows (``rstrip=True``): the token is the closing, the newline is not."""
        enc = self.tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
        ids = np.asarray(enc["input_ids"], dtype=np.int64)
        offs = np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
        starts, ends = offs[:, 0], special_token_ends(text, offs, ids, self.special)
        inside = np.zeros(len(ids), dtype=bool)
        for a, b in spans:
            inside |= (starts >= a) & (ends <= b) & (ends > starts)
        if self.options.train_on_inputs:
            inside[:] = True
        return ids.tolist(), np.where(inside, ids, IGNORE_INDEX).tolist()

    def _truncate(self, ids: list[int], labels: list[int]):
        limit = self.options.max_length
        if limit is None or len(ids) <= limit or self.options.max_length_strategy != "truncate":
            return ids, labels
        if self.options.truncation_side == "left":
            return ids[-limit:], labels[-limit:]
        return ids[:limit], labels[:limit]


def _out_of_order(text: str, messages: list[dict], trained: list[bool], spans: list[tuple[int, int]],
                  last: bool) -> Unattributed | None:
    """Why the reference's spans cannot be trusted for this row's own text, or None.

    ``row_regions`` locates a message by its text; on real rows that text may also occur elsewhere (an
    answer that repeats the question, a word of a default system prompt), and the reference may then place
    the answer there. Walking the messages' first text pieces from the last message back, each one ending
    before the next one's starts, gives each one's own occurrence (text a template writes before the messages,
    such as a default system prompt, comes first, so it is never taken); the trained spans, in order, must hold
    the trained messages' occurrences (two equal answers may swap spans: the labels are the same)."""
    turns = [j for j, t in enumerate(trained) if t]
    turns = turns[-1:] if last else turns
    own, limit = {}, len(text)
    for j in range(len(messages) - 1, -1, -1):
        pieces = row_anchors({k: messages[j][k] for k in TEXT_KEYS if k in messages[j]}, None)
        at = text.rfind(pieces[0], 0, limit) if pieces else -1
        if at >= 0:
            own[j], limit = (at, at + len(pieces[0])), at
    for j, (a, b) in zip(turns, sorted(spans)):
        if j in own and not (a <= own[j][0] and own[j][1] <= b):
            found = text[own[j][0] : own[j][1]][:40]
            return Unattributed("text_elsewhere", f"message {j}'s text ({found!r}) also occurs elsewhere in the "
                                "rendering, and the prefix renderings place the answer there")
    return None


def _runs(labels: list[int]) -> list[tuple[int, int]]:
    trained = np.r_[0, (np.asarray(labels) != IGNORE_INDEX).astype(np.int8), 0]
    edges = np.flatnonzero(np.diff(trained))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _show(tokenizer, ids: list[int], runs: list[tuple[int, int]]) -> str:
    text = " | ".join(f"{a}..{b - 1} {tokenizer.decode(ids[a:b], skip_special_tokens=False)!r}"
                      for a, b in runs) or "nothing"
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."


def _difference(tokenizer, row: int, record: int, got: tuple[list, list], want: tuple[list, list]) -> RowDifference:
    (ids, labels), (ref_ids, ref_labels) = got, want
    if ids != ref_ids:
        k = next((i for i, (a, b) in enumerate(zip(ids, ref_ids)) if a != b), min(len(ids), len(ref_ids)))
        near = lambda xs: repr(tokenizer.decode(xs[max(k - 3, 0) : k + 3], skip_special_tokens=False))  # noqa: E731
        detail = (f"{len(ids)} prepared vs {len(ref_ids)} reference tokens, first different at token {k}: "
                  f"prepared {near(ids)}, reference {near(ref_ids)}")
        return RowDifference(row, record, "input_ids", detail, _show(tokenizer, ids, _runs(labels)),
                             _show(tokenizer, ref_ids, _runs(ref_labels)))
    diff = [i for i, (a, b) in enumerate(zip(labels, ref_labels)) if a != b]
    k = diff[0]
    says = lambda lab: "trains" if lab != IGNORE_INDEX else "masks"  # noqa: E731
    detail = (f"{len(diff)} token(s), first token {k} ({tokenizer.decode([ids[k]], skip_special_tokens=False)!r}): "
              f"prepared {says(labels[k])} it, the reference {says(ref_labels[k])} it")
    mine, theirs = set(_runs(labels)), set(_runs(ref_labels))
    return RowDifference(row, record, "labels", detail, _show(tokenizer, ids, sorted(mine - theirs)),
                         _show(tokenizer, ids, sorted(theirs - mine)))


def _records_of(prepared: Dataset, raw: Dataset, pre: SFTPreprocessor) -> np.ndarray:
    """The record index of each prepared row: by position, past the rows prepare() dropped."""
    if prepared.num_rows == raw.num_rows:
        return np.arange(raw.num_rows)
    if prepared.num_rows > raw.num_rows:
        raise SFTPrepError(
            f"verify(): the prepared dataset has {prepared.num_rows} rows but raw has {raw.num_rows} records; "
            "prepare() never adds rows. Pass as raw the records the dataset was prepared from."
        )
    # prepare()'s own map with its fingerprint: loaded from the datasets cache when prepare() wrote it
    mapped = raw.map(pre, batched=True, with_indices=True, batch_size=1000, remove_columns=raw.column_names,
                     features=FEATURES, new_fingerprint=fingerprint(raw, pre),
                     desc="hf_sftprep verify: the rows prepare() kept")
    kept = np.flatnonzero(kept_mask(mapped.data.table))
    if len(kept) != prepared.num_rows:
        raise SFTPrepError(
            f"verify(): the prepared dataset has {prepared.num_rows} rows, but preparing raw ({raw.num_rows} "
            f"records) with these options keeps {len(kept)}, so its rows cannot be paired with their records. "
            "Pass verify() the options prepare() was called with (max_length, on_invalid, format, role_map, ...)."
        )
    return kept


def _check_inputs(dataset, raw, sample: int | None) -> None:
    if not isinstance(dataset, Dataset):
        hint = " Pass one split, e.g. ds['train']." if hasattr(dataset, "keys") else ""
        raise SFTPrepError(f"verify() got a {type(dataset).__name__}; expected the datasets.Dataset prepare() "
                           f"returned.{hint}")
    missing = [c for c in ("input_ids", "labels") if c not in dataset.column_names]
    if missing:
        raise SFTPrepError(
            f"verify(): the dataset has no {', '.join(missing)} column (columns: {', '.join(dataset.column_names)}); "
            "expected the output of prepare(). Call verify(prepare(raw, tok), tok, raw=raw)."
        )
    if "seq_lengths" in dataset.column_names:
        raise SFTPrepError("verify(): the dataset is packed (it has seq_lengths); pack() joins rows, so they "
                           "cannot be paired with records. Verify the dataset prepare() returned, before pack().")
    if not isinstance(raw, Dataset):
        found = "no raw" if raw is None else f"raw as a {type(raw).__name__}"
        raise SFTPrepError(f"verify(): got {found}; expected the records the dataset was prepared from, as a "
                           "datasets.Dataset: verify(ds, tok, raw=raw).")
    if sample is not None and (isinstance(sample, bool) or not isinstance(sample, int) or sample < 1):
        raise SFTPrepError(f"verify(): sample={sample!r}; expected a positive number of rows, or None for every row.")


def verify(
    dataset: Dataset,
    tokenizer,
    *,
    raw: Dataset | None = None,
    sample: int | None = 1000,
    seed: int = 0,
    max_length: int | None = None,
    show: int = 5,
    **options,
) -> VerifyReport:
    """Check sampled rows of a prepared dataset against ``apply_chat_template`` and the prefix-render reference.

    Args:
        dataset: what ``prepare(raw, tokenizer, ...)`` returned (one split).
        tokenizer: the tokenizer it was prepared with.
        raw: the records it was prepared from, in the same order.
        sample: how many rows to check, drawn with ``seed``; None checks every row.
        max_length, **options: the options ``prepare()`` was given (they decide normalization, truncation,
            ``train_on`` and which rows were dropped).
        show: how many differing (and unattributable) rows the report keeps, in row order.

    Returns:
        A :class:`VerifyReport`; ``report.ok`` is False when any checked row differs.

    Example:
        >>> ds = prepare(raw, tok)
        >>> flipped = ds.map(lambda r, i: {"labels": [-100] * len(r["labels"])} if i == 1 else r, with_indices=True)
        >>> verify(flipped, tok, raw=raw, sample=None).labels_differ
        1
    """
    _check_inputs(dataset, raw, sample)
    start = time.perf_counter()
    options.setdefault("features", null_features(raw))  # as prepare() does, so the fingerprints agree
    pre = SFTPreprocessor(tokenizer, max_length=max_length, emit_meta=True, **options)
    records = _records_of(dataset, raw, pre)
    rows = range(dataset.num_rows)
    if sample is not None and sample < dataset.num_rows:
        rows = sorted(random.Random(seed).sample(range(dataset.num_rows), sample))
    reference = _Reference(pre, detect_format(raw.column_names, pre.options.format, pre.options.column_map))
    report = VerifyReport(rows=dataset.num_rows, checked=len(rows))
    picked = dataset.select_columns(["input_ids", "labels"]).select(rows) if len(rows) else None
    for k, row in enumerate(rows):
        got = picked[k] if picked is not None else None
        record = int(records[row])
        want = reference(record, raw[record])
        if isinstance(want, Unattributed):
            report.not_attributable += 1
            report.unattributed_reasons[want.key] = report.unattributed_reasons.get(want.key, 0) + 1
            if len(report.unattributed) < show:
                report.unattributed.append((row, record, want.why))
            continue
        mine = (list(got["input_ids"]), list(got["labels"]))
        if mine == want:
            report.matching += 1
            continue
        diff = _difference(tokenizer, row, record, mine, want)
        report.ids_differ += diff.kind == "input_ids"
        report.labels_differ += diff.kind == "labels"
        if len(report.differences) < show:
            report.differences.append(diff)
    report.seconds = round(time.perf_counter() - start, 3)
    return report

