"""Which end-of-turn tokens are trained (``train_on_eot``): a last step of the labelling stage.

The verified label path trains each trained turn from its first answer token through the end-of-turn that
closes it (``"turn"``, the default: this module is not called). The other modes change only those closing
tokens, found at the end of each trained run and checked to be one of the spec's end-of-turn id sequences:

- ``"last"``: only the row's final trained turn keeps its end-of-turn (Axolotl's ``train_on_eos: last``);
- ``"none"``: no end-of-turn is trained;
- ``"all"``: also every end-of-turn the template wrote after a message that is not trained (user, system,
  tool, weight 0), but not those of a block the template writes before the row's first message (Qwen2.5's
  default system prompt): they close no message of the row (Axolotl trains the row's own turns only). Content cannot hold one: with ``special_tokens_in_content`` "error" or "split" a
  special token's text in content is refused or encoded as plain text, so each occurrence in the ids is
  the template's own.

Example:
    >>> ids = np.array([9, 1, 2, 7, 9, 3, 7]); trained = np.array([0, 1, 1, 1, 0, 1, 1], bool)
    >>> closing_mask(ids, trained, ((7,),), (), "last", open_end=False).astype(int).tolist()
    [0, 1, 1, 0, 0, 1, 1]
"""

from __future__ import annotations

import numpy as np

from ..errors import RowError
from .batch import Batch


def _runs(trained: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and (exclusive) ends of the runs of True."""
    edges = np.diff(np.concatenate([[False], trained, [False]]).astype(np.int8))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _closer(ids: np.ndarray, start: int, end: int, closers: tuple[tuple[int, ...], ...]) -> int:
    """How many tokens at the end of ``ids[start:end]`` are one of ``closers`` (longest first); 0 if none."""
    for c in closers:
        if 0 < len(c) <= end - start and tuple(ids[end - len(c) : end].tolist()) == c:
            return len(c)
    return 0


def occurrence_starts(ids: np.ndarray, ends: tuple[tuple[int, ...], ...]) -> list[tuple[int, int]]:
    """``(start, length)`` of every occurrence of one of ``ends`` in ``ids``, in order."""
    found = []
    for seq in ends:
        n = len(seq)
        if not n or n > len(ids):
            continue
        windows = np.lib.stride_tricks.sliding_window_view(ids, n)
        found += [(int(s), n) for s in np.flatnonzero((windows == np.asarray(seq)).all(axis=1))]
    return sorted(found)


def _occurrences(ids: np.ndarray, ends: tuple[tuple[int, ...], ...], skip: int = 0) -> np.ndarray:
    """A mask of every token inside an occurrence of one of ``ends`` in ``ids``, the first ``skip`` left out."""
    mask = np.zeros(len(ids), dtype=bool)
    for s, n in occurrence_starts(ids, ends)[skip:]:
        mask[s : s + n] = True
    return mask


def closing_mask(ids: np.ndarray, trained: np.ndarray, ends: tuple[tuple[int, ...], ...], trailer: tuple[int, ...],
                 mode: str, open_end: bool, lead: int = 0) -> np.ndarray | None:
    """One row's trained mask under ``mode``; None when a trained run does not end with an end-of-turn
    (and is not the open last turn of a template whose final answer may end without one). ``lead``: how
    many end-of-turns open the row before its first message ("all" leaves them untrained)."""
    out = trained.copy()
    starts, stops = _runs(trained)
    closers = tuple(sorted({*ends, *((e + trailer) for e in ends if trailer)}, key=len, reverse=True))
    for i, (a, b) in enumerate(zip(starts.tolist(), stops.tolist())):
        n = _closer(ids, a, b, closers)
        if n == 0:
            if open_end and i == len(starts) - 1:
                continue
            return None
        if mode == "none" or (mode == "last" and i < len(starts) - 1):
            out[b - n : b] = False
    if mode == "all":
        out |= _occurrences(ids, ends, lead)
    return out


def train_on_eot(batch: Batch, ends: tuple[tuple[int, ...], ...], trailer: tuple[int, ...], mode: str,
                 open_end: bool = False, leads: dict[int, int] | None = None) -> Batch:
    """Apply ``mode`` ("last", "none" or "all") to every kept row's trained mask; a row whose trained run
    does not end with one of ``ends`` is refused (the label path found no end-of-turn to keep or drop).
    ``leads``: kept index -> end-of-turns before the row's first message (a template's default system)."""
    failed = set(batch.failed_kept().tolist())
    offsets = batch.offsets
    for k in range(len(batch.texts)):
        if k in failed:
            continue
        a, b = int(offsets[k]), int(offsets[k + 1])
        mask = closing_mask(batch.flat[a:b], batch.trained[a:b], ends, trailer, mode, open_end, (leads or {}).get(k, 0))
        if mask is None:
            batch.refuse_kept(k, RowError(
                batch.kept_row(k), "eot_not_found",
                f"train_on_eot={mode!r}: a trained turn of this row does not end with the end-of-turn "
                f"(ids {[list(e) for e in ends]}), so there is no end-of-turn token to keep or leave out. "
                "Use train_on_eot='turn', or drop such rows with on_invalid='drop'."))
            batch.trained[a:b] = False
            continue
        batch.trained[a:b] = mask
    return batch
