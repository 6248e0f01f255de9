"""Token ids and label masks on numpy/Arrow: encoding, turn search, the exact path, piece dedupe,
labels and truncation. The dataset layer runs these on each batch.
"""

from .encode import encode_ids
from .exact import common_prefix_len, offsets_trained_mask, turn_char_spans
from .fast_backend import STILL_BUILDING, Encoder
from .masking import IGNORE_INDEX, build_labels, char_span_mask, count_per_row, span_mask, take_rows, truncate
from .pieces import piece_independent, split_pattern, tokenize_pieced, worth_deduping
from .turns import find_turns, select_turns

__all__ = [
    "IGNORE_INDEX",
    "STILL_BUILDING",
    "Encoder",
    "build_labels",
    "char_span_mask",
    "common_prefix_len",
    "count_per_row",
    "encode_ids",
    "find_turns",
    "offsets_trained_mask",
    "piece_independent",
    "select_turns",
    "span_mask",
    "split_pattern",
    "take_rows",
    "tokenize_pieced",
    "truncate",
    "turn_char_spans",
    "worth_deduping",
]
