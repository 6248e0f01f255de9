"""Show which tokens are trained: coloured for a terminal, ``[T]...[/T]`` markers for plain text, or HTML."""

from __future__ import annotations

import html
import re

from ..tokens.masking import IGNORE_INDEX

GREEN, DIM, BOLD, RESET = "\x1b[32m", "\x1b[2m", "\x1b[1m", "\x1b[0m"
TRAINED_OPEN, TRAINED_CLOSE = "[T]", "[/T]"
# C0 and C1 controls but \t and \n (ESC starts terminal sequences, \r and \b overwrite what was printed), DEL,
# and the bidirectional overrides and isolates, which reorder what the terminal shows
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# literal markers in the text: "[T]" -> "[\T]", "[/T]" -> "[\/T]", so only the real markers read "[T]" / "[/T]"
_MARKER = re.compile(r"\[(?=/?T\])")


def _escape_char(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    return "\\r" if char == "\r" else f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_text(text: str) -> str:
    r"""``text`` safe to print: control characters (but \n and \t) shown as escapes, and literal
    ``[T]`` / ``[/T]`` written ``[\T]`` / ``[\/T]``, so the text can neither run terminal sequences nor
    look trained.

    Example:
        >>> print(terminal_text("\x1b[31mred\x1b[0m\r [T]fake[/T]"))
        \x1b[31mred\x1b[0m\r [\T]fake[\/T]
    """
    return _MARKER.sub("[\\\\", _CONTROL.sub(_escape_char, text))


def _pieces(tokenizer, input_ids: list[int], labels: list[int]) -> list[tuple[str, bool]]:
    """(text, trained) runs; consecutive tokens of the same kind are decoded together so multi-byte
    characters split across tokens come out whole."""
    runs: list[tuple[list[int], bool]] = []
    for tid, lab in zip(input_ids, labels):
        trained = lab != IGNORE_INDEX
        if runs and runs[-1][1] == trained:
            runs[-1][0].append(tid)
        else:
            runs.append(([tid], trained))
    return [(tokenizer.decode(ids, skip_special_tokens=False), trained) for ids, trained in runs]


def turn_boundaries(labels: list[int]) -> list[tuple[int, int]]:
    """Token index ranges ``[start, stop)`` of each trained run."""
    spans, start = [], None
    for i, lab in enumerate(list(labels) + [IGNORE_INDEX]):
        if lab != IGNORE_INDEX and start is None:
            start = i
        elif lab == IGNORE_INDEX and start is not None:
            spans.append((start, i))
            start = None
    return spans


def render_row(tokenizer, input_ids: list[int], labels: list[int], color: bool) -> str:
    """Decoded row with trained text green (or inside ``[T]...[/T]``) and masked text dim.

    Example:
        >>> ds = prepare(raw, tok)
        >>> print(render_row(tok, ds[0]["input_ids"], ds[0]["labels"], color=False))
        <|im_start|>system
        You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
        <|im_start|>user
        Hi<|im_end|>
        <|im_start|>assistant
        [T]Hello!<|im_end|>[/T]
    """
    out = []
    for text, trained in _pieces(tokenizer, input_ids, labels):
        text = terminal_text(text)
        if color:
            out.append((GREEN if trained else DIM) + text + RESET)
        else:
            out.append(f"{TRAINED_OPEN}{text}{TRAINED_CLOSE}" if trained else text)
    return "".join(out)


def render_pack(tokenizer, input_ids: list[int], labels: list[int], seq_lengths: list[int], color: bool) -> str:
    """A pack from ``pack()``: each sequence rendered under a line giving its token range.

    Example:
        >>> print(render_pack(tok, [1, 2, 3], [-100, 2, 3], [2, 1], color=False).splitlines()[0])
        === sequence 1 of 2: tokens 0..1 (2 tokens) ===
    """
    out, start = [], 0
    for k, n in enumerate(seq_lengths):
        head = f"=== sequence {k + 1} of {len(seq_lengths)}: tokens {start}..{start + n - 1} ({n} tokens) ==="
        body = render_row(tokenizer, input_ids[start : start + n], labels[start : start + n], color)
        out += [(BOLD + head + RESET) if color else head, body]
        start += n
    return "\n".join(out)


def describe_turns(labels: list[int]) -> str:
    """One line per trained turn: its token range and size."""
    spans = turn_boundaries(labels)
    lines = [f"trained turn {k + 1}: tokens {a}..{b - 1} ({b - a} tokens)" for k, (a, b) in enumerate(spans)]
    return "\n".join(lines) if lines else "no trained tokens"


def render_row_html(tokenizer, input_ids: list[int], labels: list[int]) -> str:
    """The row as HTML: trained text on green, masked text grey."""
    parts = []
    for text, trained in _pieces(tokenizer, input_ids, labels):
        cls = "t" if trained else "m"
        parts.append(f'<span class="{cls}">{html.escape(text)}</span>')
    return "<pre>" + "".join(parts) + "</pre>"
