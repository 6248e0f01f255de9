"""The exact path: assistant spans located in characters, mapped to tokens by offsets.

Used for the rows where the token-level search cannot be trusted: a header whose
last token merged with the answer's first characters (ChatML's "\\n" + "\\n\\n..."),
templates whose header is plain text, and Stanford Alpaca prompts. Only those rows
are re-tokenized, with ``return_offsets_mapping=True``.
"""

from __future__ import annotations

import numpy as np

from ..errors import RowError
from .masking import char_span_mask, lengths_to_offsets


def header_char_spans(row: int, text: str, header: str, end: str, expected: int) -> list[tuple[int, int]]:
    """Character spans ``[content start, end-of-turn end)`` of every assistant turn in ``text``.

    Raises RowError when the number of turns found is not ``expected``, or a turn
    is not closed by ``end``.
    """
    spans = []
    pos = text.find(header)
    while pos >= 0:
        start = pos + len(header)
        stop = text.find(end, start)
        nxt = text.find(header, start)
        if stop < 0 or (0 <= nxt < stop):
            raise RowError(
                row,
                "unclosed_turn",
                f"an assistant turn at character {start} is not closed by {end!r} before the next turn. "
                "Pass end_of_turn=... matching the template, or drop such rows with on_invalid='drop'.",
            )
        spans.append((start, stop + len(end)))
        pos = text.find(header, stop + len(end))
    if len(spans) != expected:
        raise RowError(
            row,
            "header_mismatch",
            f"the rendered text holds {len(spans)} assistant headers {header!r} but field 'messages' has "
            f"{expected} assistant messages; expected them to match. The template may drop or rewrite turns, "
            "or content may contain the header text: pass assistant_header=... or drop such rows with on_invalid='drop'.",
        )
    return spans


def offsets_trained_mask(tokenizer, texts: list[str], spans: list[list[tuple[int, int]]], add_special_tokens: bool):
    """Tokenize ``texts`` with offsets and mark tokens inside each row's character spans.

    Returns ``(ids, row_offsets, trained)``: the flat int32 ids, the row offsets and
    the boolean trained mask, all flat over the given rows.
    """
    enc = tokenizer(texts, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
    ids = [np.asarray(x, dtype=np.int32) for x in enc["input_ids"]]
    lengths = np.array([len(x) for x in ids], dtype=np.int64)
    row_offsets = lengths_to_offsets(lengths)
    flat = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int32)
    char_base = lengths_to_offsets(np.array([len(t) for t in texts], dtype=np.int64))
    offs = np.concatenate([np.asarray(o, dtype=np.int64).reshape(-1, 2) for o in enc["offset_mapping"]]) if ids else np.zeros((0, 2), np.int64)
    shift = np.repeat(char_base[:-1], lengths)
    tok_start, tok_end = offs[:, 0] + shift, offs[:, 1] + shift
    starts = [char_base[r] + a for r, row_spans in enumerate(spans) for a, _ in row_spans]
    stops = [char_base[r] + b for r, row_spans in enumerate(spans) for _, b in row_spans]
    trained = char_span_mask(tok_start, tok_end, np.array(starts, np.int64), np.array(stops, np.int64))
    return flat, row_offsets, trained
