"""The labelling stage: which tokens of each row are trained.

The vectorized turn search (:mod:`.turns`) labels the rows it can vouch for; the others are redone from
character offsets (:mod:`.exact`). Stanford Alpaca rows are labelled by characters from the start.
"""

from __future__ import annotations

import numpy as np

from ..errors import RowError
from .batch import Batch
from .exact import redo_exact
from .stanford import encode_stanford
from .turns import TurnSearch


def label_stanford(batch: Batch, tokenizer, train_on_inputs: bool) -> Batch:
    """Encode and label Stanford Alpaca rows through offsets (BOS added, as the Stanford recipe does);
    a token straddling the prompt's end splits the row into prompt and response ids (:mod:`.stanford`)."""
    if batch.texts:
        flat, offsets, trained = encode_stanford(tokenizer, batch.texts, [t[0][0] for t in batch.targets])
        batch.flat, batch.offsets = flat, offsets
        batch.trained = np.ones(len(flat), dtype=bool) if train_on_inputs else trained
    return batch


def label_chat(batch: Batch, search: TurnSearch | None, tokenizer, spec, last: bool, train_on_inputs: bool) -> Batch:
    """Fill ``batch.trained`` for encoded chat rows; rows that cannot be labelled exactly are refused."""
    flat, offsets = batch.flat, batch.offsets
    if not batch.texts:  # every row of the batch was dropped
        return batch
    if train_on_inputs:
        batch.trained = np.ones(len(flat), dtype=bool)
        return batch
    exact = np.ones(len(batch.texts), dtype=bool)
    batch.trained = np.zeros(len(flat), dtype=bool)
    if spec.token_search and len(flat):
        exact, batch.trained = search(flat, offsets, batch.targets, last)
    if batch.regions:
        exact[list(batch.regions)] = True  # labelled from the reference's character spans
    for k in [int(b) for b in np.flatnonzero(exact) if int(b) in batch.sanitize]:
        exact[k] = False  # sanitized ids do not follow the rendered text: no offsets path for them
        batch.refuse_kept(k, RowError(
            batch.kept_row(k), "unverifiable_sanitized",
            "the row needed control-string sanitizing and its assistant turns could not be verified on "
            "the token level (a header merged with the answer's first characters). Remove the control "
            "strings from the content, or drop such rows with on_invalid='drop'."))
    bad = np.flatnonzero(exact)
    if len(bad):
        redo_exact(batch, bad, tokenizer, spec, last)
    for k in batch.failed_kept():
        batch.trained[offsets[k] : offsets[k + 1]] = False
    return batch
