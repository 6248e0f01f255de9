"""PrepReport: what preparation kept, dropped, trained and truncated, read from the Arrow columns."""

from __future__ import annotations

import json
import logging
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..tokens.fast_backend import SMALL_DATASET, STILL_BUILDING
from ..tokens.masking import IGNORE_INDEX
from .schema import SUMMED

logger = logging.getLogger("hf_sftprep")


@dataclass
class PrepReport:
    """Dataset-level summary of a preparation run.

    Example:
        >>> rows = raw.to_list() + [{"messages": [{"role": "user", "content": "no answer"}]}]
        >>> ds, report = prepare(Dataset.from_list(rows), tok, on_invalid="drop", return_report=True)
        >>> report.rows_in, report.rows_out, report.dropped
        (3, 2, {'no_assistant': 1})
    """

    rows_in: int = 0
    rows_out: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    tokens: int = 0
    trained_tokens: int = 0
    end_of_turn_truncated_rows: int = 0
    trained_truncated_rows: int = 0
    reasoning_dropped_turns: int = 0
    length_percentiles: dict[str, int] = field(default_factory=dict)
    trained_fraction_percentiles: dict[str, float] = field(default_factory=dict)
    assistant_header: str | None = None
    assistant_header_ids: list[int] | None = None
    end_of_turn: list[str] | None = None
    end_of_turn_ids: list[list[int]] | None = None
    # "fastokens" or "hf" for whole-text encoding (ids are identical); None when nothing was tokenized here
    tokenizer_backend: str | None = None
    tokenizer_backend_reason: str = ""

    @property
    def trained_fraction(self) -> float:
        return self.trained_tokens / self.tokens if self.tokens else 0.0

    def to_dict(self) -> dict:
        out = asdict(self)
        out["trained_fraction"] = round(self.trained_fraction, 6)
        out.update(self._legacy_keys())
        return out

    def _legacy_keys(self) -> dict:
        """The 0.3 names of renamed fields, kept in ``to_dict()`` (and stats.json) for one release."""
        ends, end_ids = self.end_of_turn or [], self.end_of_turn_ids or []
        return {
            "header_text": self.assistant_header,
            "header_ids": self.assistant_header_ids,
            "end_text": ends[0] if ends else (None if self.end_of_turn is None else ""),
            "end_ids": end_ids[0] if end_ids else (None if self.end_of_turn_ids is None else []),
            "eot_truncated_rows": self.end_of_turn_truncated_rows,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    # the 0.3 attribute names, read (and, where one field holds them, written) for one release
    @property
    def eot_truncated_rows(self) -> int:
        _renamed("eot_truncated_rows", "end_of_turn_truncated_rows")
        return self.end_of_turn_truncated_rows

    @eot_truncated_rows.setter
    def eot_truncated_rows(self, value: int) -> None:
        _renamed("eot_truncated_rows", "end_of_turn_truncated_rows")
        self.end_of_turn_truncated_rows = value

    @property
    def header_text(self) -> str | None:
        _renamed("header_text", "assistant_header")
        return self.assistant_header

    @header_text.setter
    def header_text(self, value: str | None) -> None:
        _renamed("header_text", "assistant_header")
        self.assistant_header = value

    @property
    def header_ids(self) -> list[int] | None:
        _renamed("header_ids", "assistant_header_ids")
        return self.assistant_header_ids

    @header_ids.setter
    def header_ids(self, value: list[int] | None) -> None:
        _renamed("header_ids", "assistant_header_ids")
        self.assistant_header_ids = value

    @property
    def end_text(self) -> str | None:
        _renamed("end_text", "end_of_turn[0]")
        return self._legacy_keys()["end_text"]

    @property
    def end_ids(self) -> list[int] | None:
        _renamed("end_ids", "end_of_turn_ids[0]")
        return self._legacy_keys()["end_ids"]

    def summary(self) -> str:
        """A few human-readable lines."""
        drops = ", ".join(f"{k}={v}" for k, v in sorted(self.dropped.items())) or "none"
        lp = self.length_percentiles
        lengths = "/".join(str(lp[k]) for k in ("p50", "p90", "p99", "max")) if lp else "- (no rows kept)"
        return (
            f"rows: {self.rows_in} in, {self.rows_out} out; dropped: {drops}\n"
            f"tokens: {self.tokens:,}, trained: {self.trained_tokens:,} ({self.trained_fraction:.1%})\n"
            f"length p50/p90/p99/max: {lengths}; "
            f"rows whose end-of-turn was truncated: {self.end_of_turn_truncated_rows} "
            f"(rows that lost any trained token: {self.trained_truncated_rows})"
            + (  # only when the fast backend was refused: why (not when it was still being built or skipped for size)
                f"\ntokenizer backend: {self.tokenizer_backend} ({self.tokenizer_backend_reason})"
                if self.tokenizer_backend_reason and not self.tokenizer_backend_reason.startswith((STILL_BUILDING, SMALL_DATASET))
                else ""
            )
            + (
                f"\nassistant turns whose reasoning the template did not render: {self.reasoning_dropped_turns}"
                if self.reasoning_dropped_turns
                else ""
            )
        )


def _renamed(old: str, new: str) -> None:
    warnings.warn(f"PrepReport.{old} is deprecated (renamed in 0.3) and will be removed in the next release; "
                  f"use PrepReport.{new}.", DeprecationWarning, stacklevel=3)


def stats_for_splits(reports: dict[str, PrepReport]) -> dict:
    """stats.json for several splits: each split's full report under ``"splits"``; at the top level the
    totals over all splits (counts add up; percentiles and other per-row figures do not, so they appear
    per split only) and the template facts the splits share.

    Example:
        >>> _, train_report = prepare(raw, tok, return_report=True)
        >>> _, test_report = prepare(raw.select([0]), tok, return_report=True)
        >>> stats_for_splits({"train": train_report, "test": test_report})["rows_in"]
        3
    """
    per_split = {name: r.to_dict() for name, r in reports.items()}
    first = next(iter(per_split.values()))
    total: dict = {}
    for key, value in first.items():
        values = [d[key] for d in per_split.values()]
        if key == "dropped":
            total[key] = dict(sorted(sum((Counter(v) for v in values), Counter()).items()))
        elif isinstance(value, int) and not isinstance(value, bool):
            total[key] = sum(values)
        elif not isinstance(value, (float, dict)) and all(v == value for v in values):
            total[key] = value  # header / end-of-turn text and ids
    if "tokens" in total and "trained_tokens" in total:
        total["trained_fraction"] = round(total["trained_tokens"] / total["tokens"], 6) if total["tokens"] else 0.0
    return {**total, "splits": per_split}


def _percentiles(values: np.ndarray, cast=int) -> dict:
    if len(values) == 0:
        return {}
    q = np.percentile(values, [50, 90, 99])
    return {"p50": cast(q[0]), "p90": cast(q[1]), "p99": cast(q[2]), "max": cast(values.max())}


def trained_per_row(labels: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Number of trained (non -100) labels in each row, without Python loops over tokens."""
    chunks = labels.chunks if isinstance(labels, pa.ChunkedArray) else [labels]
    out = []
    for chunk in chunks:
        offsets = chunk.offsets.to_numpy()
        values = chunk.values.to_numpy(zero_copy_only=False)[offsets[0] : offsets[-1]]
        csum = np.zeros(len(values) + 1, dtype=np.int64)
        np.cumsum(values != IGNORE_INDEX, out=csum[1:])
        rel = offsets - offsets[0]
        out.append(csum[rel[1:]] - csum[rel[:-1]])
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def log_drops(report: PrepReport) -> None:
    """One warning line with the drop counts per reason (nothing when no row was dropped)."""
    if report.dropped:
        logger.warning(
            "hf_sftprep dropped %d of %d rows: %s",
            report.rows_in - report.rows_out,
            report.rows_in,
            ", ".join(f"{k}={v}" for k, v in report.dropped.items()),
        )


def _count(table: pa.Table, column: str, kept: np.ndarray) -> int:
    """Sum of a per-row meta column over the kept rows (0 for tables written before it existed)."""
    if column not in table.column_names:
        return 0
    return int(table.column(column).to_numpy(zero_copy_only=False)[kept].astype(np.int64).sum())


def kept_mask(table: pa.Table) -> np.ndarray:
    """Rows of a table with meta columns that were not dropped."""
    return pc.equal(table.column("drop_reason"), "").to_numpy(zero_copy_only=False)


def report_from_table(table: pa.Table, spec=None) -> PrepReport:
    """Build the report from the meta columns (drop_reason, eot_truncated, n_trained) and ``length``."""
    reasons = table.column("drop_reason")
    kept = kept_mask(table)
    dropped = Counter(r for r in pc.filter(reasons, pc.invert(pc.equal(reasons, ""))).to_pylist())
    lengths = table.column("length").to_numpy()[kept]
    trained = table.column("n_trained").to_numpy().astype(np.int64)[kept]
    frac = trained / np.maximum(lengths, 1)
    report = PrepReport(
        rows_in=table.num_rows,
        rows_out=int(kept.sum()),
        dropped=dict(sorted(dropped.items())),
        tokens=int(lengths.sum()),
        trained_tokens=int(trained.sum()),
        **{report_field: _count(table, column, kept) for column, report_field in SUMMED.items()},
        length_percentiles=_percentiles(lengths),
        trained_fraction_percentiles=_percentiles(frac, cast=lambda x: round(float(x), 4)),
    )
    if spec is not None:
        report.assistant_header, report.assistant_header_ids = spec.assistant_header, list(spec.assistant_header_ids)
        report.end_of_turn = list(spec.end_of_turn)
        report.end_of_turn_ids = [list(ids) for ids in spec.end_of_turn_ids]
    return report
