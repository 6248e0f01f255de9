"""Length grouping: batch rows of similar length and measure the padding a batch plan wastes."""

from __future__ import annotations

import numpy as np


def padding_waste(lengths, batches: list[list[int]]) -> float:
    """Padded positions over all positions when each batch is padded to its longest row.

    Example (the seed's batch of a 2,887-token row and a 977-token row):
        >>> round(padding_waste([2887, 977], [[0, 1]]), 3)
        0.331
    """
    lengths = np.asarray(lengths)
    total = sum(int(lengths[b].max()) * len(b) for b in batches if len(b))
    used = sum(int(lengths[b].sum()) for b in batches if len(b))
    return (total - used) / total if total else 0.0


def length_grouped_batches(lengths, batch_size: int, seed: int = 0, mega_batch_mult: int = 50) -> list[list[int]]:
    """Shuffle, then sort by length inside mega-batches of ``batch_size * mega_batch_mult`` rows.

    Rows in a batch have similar lengths (little padding) while the batch order stays random,
    as transformers' LengthGroupedSampler does.
    """
    lengths = np.asarray(lengths)
    order = np.random.default_rng(seed).permutation(len(lengths))
    mega = batch_size * mega_batch_mult
    batches = []
    for i in range(0, len(order), mega):
        chunk = order[i : i + mega]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches += [chunk[j : j + batch_size].tolist() for j in range(0, len(chunk), batch_size)]
    return batches


def random_batches(n: int, batch_size: int, seed: int = 0) -> list[list[int]]:
    order = np.random.default_rng(seed).permutation(n)
    return [order[j : j + batch_size].tolist() for j in range(0, n, batch_size)]
