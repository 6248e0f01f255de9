"""Render the first batches while the fast tokenizer backend builds: the cold start's fixed cost, overlapped.

The fastokens build (~1.2-1.6 s for Llama 3 on an idle machine) releases the GIL; rendering holds it. So
while the build runs, ``prepare()`` renders the batches ``Dataset.map`` is about to ask for (the same rows,
cut the same way, per worker shard with ``num_proc``) into the preprocessor's ``ahead`` table, and the map's
batch function takes each rendered batch from there instead of rendering it again. Nothing else changes:
the same render stage, the same checks, the same errors (a batch that raises is left for the map, which
reports it with its context). What the map then saves is encoding the first batches through HF while the
build runs (HF encodes ~10x slower, and takes the build's core).
"""

from __future__ import annotations

from ..errors import RowError, SFTPrepError

# at most this many rows, or this many characters of rendered text, are held ahead of the map
AHEAD_ROWS = 60_000
AHEAD_CHARS = 96 << 20


def map_batches(rows: int, num_proc: int | None, batch_size: int | None) -> list[list[tuple[int, int]]]:
    """Per worker shard, the ``(start, stop)`` dataset rows of each batch, as ``Dataset.map`` cuts them
    (contiguous shards, the first ``rows % num_proc`` one row longer; batches from each shard's start).

    Example:
        >>> map_batches(10, 2, 3)
        [[(0, 3), (3, 5)], [(5, 8), (8, 10)]]
    """
    shards = max(1, min(num_proc or 1, rows))
    size = batch_size if batch_size and batch_size > 0 else rows
    out, start = [], 0
    for i in range(shards):
        length = rows // shards + (1 if i < rows % shards else 0)
        out.append([(a, min(a + size, start + length)) for a in range(start, start + length, size)])
        start += length
    return out


def interleaved(shards: list[list[tuple[int, int]]]) -> list[tuple[int, int]]:
    """Each shard's first batch, then each one's second, ...: every forked worker starts with batches ready."""
    longest = max((len(s) for s in shards), default=0)
    return [s[k] for k in range(longest) for s in shards if k < len(s)]


def render_ahead(dataset, pre, num_proc: int | None, batch_size: int | None) -> int:
    """Render the map's batches into ``pre.ahead`` while ``pre.encoder`` is building; the rows rendered.

    Stops when the build finishes, at :data:`AHEAD_ROWS` rows or :data:`AHEAD_CHARS` characters, or at a batch
    that raises (left for the map to report)."""
    if pre.named is not None or not pre.encoder.building():
        return 0
    rows = chars = 0
    for start, stop in interleaved(map_batches(dataset.num_rows, num_proc, batch_size)):
        if not pre.encoder.building() or rows >= AHEAD_ROWS or chars >= AHEAD_CHARS:
            break
        try:
            batch = pre.render(dataset[start:stop], list(range(start, stop)))
        except (RowError, SFTPrepError):
            break
        pre.ahead[(start, stop - start)] = batch
        rows += stop - start
        chars += sum(map(len, batch.texts))
    return rows
