"""Where each assistant turn of a rendered text is, in characters, from the learned TemplateSpec.

The exact path (:mod:`hf_sftprep.tokens.exact`) maps these spans to tokens by offsets; the probe checks
its own spec with them.
"""

from __future__ import annotations

from ..errors import RowError


def common_prefix_len(a: str, b: str, at: int = 0) -> int:
    """Length of the common prefix of ``a[at:]`` and ``b``.

    Example:
        >>> common_prefix_len("xx<|im_start|>assistant\\nhi", "<|im_start|>assistant\\n", at=2)
        22
    """
    n = min(len(b), len(a) - at)
    k = 0
    while k < n and a[at + k] == b[k]:
        k += 1
    return k


def _whole_specials(k: int, spec) -> int:
    """A matched prompt length, moved back to the longest opening the probe saw turns open with (and out
    of a special token it ends inside)."""
    openings = [n for n in spec.openings if n <= k]
    if openings:
        k = max(openings)
    for a, b in spec.prompt_specials:
        if a < k < b:
            return a
    return k


def _find_opener(text: str, spec, at: int) -> tuple[int, bool]:
    """Position of the next turn opening at or after ``at``, and whether it is a tool result's closing."""
    pos = text.find(spec.marker, at)
    result = spec.result_opener
    r = text.find(result, at) if result else -1
    if r >= 0 and (pos < 0 or r < pos):
        return r, True
    return pos, False


def _close(row: int, text: str, start: int, spec, nxt: int) -> int:
    """End of the turn opened at ``start``: the end of its first terminal (or of the text, open_end)."""
    hits = [(p, t) for p, t in ((text.find(t, start), t) for t in spec.end_of_turn) if p >= 0]
    p, t = min(hits) if hits else (-1, "")
    if hits and (nxt < 0 or p < nxt):
        end = p + len(t)
        more = True
        while more:  # a closing of several terminals in a row is trained whole
            more = next((u for u in spec.end_of_turn if text.startswith(u, end)), None)
            end += len(more) if more else 0
        return end
    if nxt >= 0:
        raise RowError(
            row,
            "header_mismatch",
            f"a second assistant header {spec.marker!r} appears at character {nxt} before the turn at "
            f"character {start} is closed by {' or '.join(map(repr, spec.end_of_turn))}; content may contain "
            "the header text. Remove it, pass assistant_header=... matching the template, or drop such rows "
            "with on_invalid='drop'.",
        )
    if spec.open_end:
        return len(text)
    raise RowError(
        row,
        "unclosed_turn",
        f"the assistant turn at character {start} is not closed by {' or '.join(map(repr, spec.end_of_turn))}. "
        "Pass end_of_turn=... matching the template, or drop such rows with on_invalid='drop'.",
    )


def turn_char_spans(row: int, text: str, spec, expected: int) -> list[tuple[int, int]]:
    """Character spans ``[answer start, turn end)`` of every assistant turn in ``text``.

    Raises RowError when the number of turns found is not ``expected``, or a turn is not closed.

    Example (SmolLM2's ChatML):
        >>> from hf_sftprep.templates.probe import probe_template
        >>> spec = probe_template(tok)
        >>> turn_char_spans(0, "<|im_start|>user\\nhi<|im_end|>\\n<|im_start|>assistant\\nyo<|im_end|>\\n", spec, 1)
        [(52, 64)]
    """
    blocks = []  # (marker position, answer start, turn end)
    appended = spec.appended
    if appended and text.endswith(appended):  # appended to every rendering: part of no turn
        text = text[: len(text) - len(appended)]
    pos, after_result = _find_opener(text, spec, 0)
    while pos >= 0:
        if after_result:  # an answer after a tool result opens with the result's closing
            start = pos + len(spec.result_opener)
        else:
            start = pos + _whole_specials(common_prefix_len(text, spec.assistant_header, pos), spec)
        nxt, _ = _find_opener(text, spec, start)
        stop = _close(row, text, start, spec, nxt)
        if nxt < 0 and spec.trailer and text.startswith(spec.trailer, stop):
            stop += len(spec.trailer)
        gap = spec.block_gap
        if spec.multi_block and blocks and (blocks[-1][2] == pos or (gap and text[blocks[-1][2] : pos] == gap)):
            blocks[-1] = (blocks[-1][0], blocks[-1][1], stop)
        else:
            blocks.append((pos, start, stop))
        pos, after_result = _find_opener(text, spec, stop)
    if len(blocks) != expected:
        raise RowError(
            row,
            "header_mismatch",
            f"the rendered text holds {len(blocks)} assistant turns (header {spec.marker!r}) but field "
            f"'messages' has {expected}; expected them to match. The template may drop or merge turns, "
            "or content may contain the header text: pass assistant_header=... or drop such rows with "
            "on_invalid='drop'.",
        )
    return [(start, stop) for _, start, stop in blocks]
