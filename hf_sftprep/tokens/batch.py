"""The one object a batch's stages hand each other: rows, texts, flat ids, offsets, trained mask, drops.

Each stage (render, encode, label, truncate, assemble) reads the fields the earlier ones filled and
fills its own; none keeps per-batch state anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import RowError


@dataclass
class Batch:
    """One batch on its way from records to Arrow columns.

    Attributes:
        rows: the dataset row number of each input row (for error messages).
        strict: True raises a row's error (``on_invalid="error"``); False records its reason.
        stanford: the rows are Stanford Alpaca prompts (trained spans in characters, HF encoding).
        texts: the rendered text of each kept row.
        targets: per kept row, its per-turn trained flags (chat) or trained character spans (Stanford).
        kept: input position of each kept row (rows that failed rendering are not kept).
        dropped: input position -> drop reason, for rows refused at any stage.
        sanitize: kept index -> (messages, tools), for rows the 'split' policy encodes as sanitized.
        lost: per kept row, how many assistant turns' reasoning the template did not render.
        regions: kept index -> trained character spans given by the prefix-render reference itself, for
            rows its shape's verdict does not cover; they are labelled from offsets, not searched.
        leads: kept index -> the text the template writes before the row's first message's content
            (``train_on_eot="all"`` leaves the end-of-turns inside it untrained).
        flat, offsets, trained: the kept rows' ids, row offsets and trained mask, flat.
        eot_cut, trained_cut: per kept row, whether truncation cut its final end-of-turn / a trained token.
    """

    rows: list[int]
    strict: bool
    stanford: bool = False
    texts: list[str] = field(default_factory=list)
    targets: list = field(default_factory=list)
    kept: list[int] = field(default_factory=list)
    dropped: dict[int, str] = field(default_factory=dict)
    sanitize: dict[int, tuple] = field(default_factory=dict)
    lost: list[int] = field(default_factory=list)
    regions: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    leads: dict[int, str] = field(default_factory=dict)
    flat: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    trained: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    eot_cut: np.ndarray | None = None
    trained_cut: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.rows)

    def kept_row(self, k: int) -> int:
        """The dataset row number of kept row ``k``."""
        return self.rows[self.kept[k]]

    def refuse(self, position: int, err: RowError) -> None:
        """Raise ``err`` (strict) or drop the row at input ``position`` with its reason."""
        if self.strict:
            raise err
        self.dropped[position] = err.reason

    def refuse_kept(self, k: int, err: RowError) -> None:
        """:meth:`refuse` for kept row ``k``; its trained tokens are cleared when the batch is assembled."""
        self.refuse(self.kept[k], err)

    def failed_kept(self) -> np.ndarray:
        """Kept indices of rows dropped after rendering."""
        if not self.dropped:  # the usual batch: no scan over its rows
            return np.zeros(0, dtype=np.int64)
        return np.asarray([k for k, i in enumerate(self.kept) if i in self.dropped], dtype=np.int64)
