"""Show which tokens are trained: coloured for a terminal, ``[T]...[/T]`` markers for plain text, or HTML."""

from __future__ import annotations

import html

from ..tokens.masking import IGNORE_INDEX

GREEN, DIM, RESET = "\x1b[32m", "\x1b[2m", "\x1b[0m"


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
        >>> print(render_row(tok, ds[0]["input_ids"], ds[0]["labels"], color=False))
        <|im_start|>user
        Hi<|im_end|>
        <|im_start|>assistant
        [T]Hello!<|im_end|>[/T]
    """
    out = []
    for text, trained in _pieces(tokenizer, input_ids, labels):
        if color:
            out.append((GREEN if trained else DIM) + text + RESET)
        else:
            out.append(f"[T]{text}[/T]" if trained else text)
    return "".join(out)


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
