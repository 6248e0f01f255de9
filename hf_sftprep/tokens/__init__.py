"""Token ids and label masks on numpy/Arrow, stage by stage over one :class:`Batch`: encoding, the turn
search, labelling (with the exact character path), piece dedupe and truncation. The dataset layer runs
these on each batch.
"""

from .batch import Batch
from .encode import encode_batch, encode_ids
from .exact import offsets_trained_mask, redo_exact
from .fast_backend import STILL_BUILDING, Encoder
from .label import label_chat, label_stanford
from .masking import IGNORE_INDEX, build_labels, char_span_mask, count_per_row, span_mask, take_rows, truncate_batch
from .pieces import piece_independent, split_pattern, tokenize_pieced, worth_deduping
from .turns import TurnSearch, find_turns, select_turns

__all__ = [
    "IGNORE_INDEX",
    "STILL_BUILDING",
    "Batch",
    "Encoder",
    "TurnSearch",
    "build_labels",
    "char_span_mask",
    "count_per_row",
    "encode_batch",
    "encode_ids",
    "find_turns",
    "label_chat",
    "label_stanford",
    "offsets_trained_mask",
    "piece_independent",
    "redo_exact",
    "select_turns",
    "span_mask",
    "split_pattern",
    "take_rows",
    "tokenize_pieced",
    "truncate_batch",
    "worth_deduping",
]
