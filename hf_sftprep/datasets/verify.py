"""Every conversation shape is checked once against the independent reference before any row of it is
labelled: the learned TemplateSpec can then never silently mislabel a shape of conversation it was
not probed with (a system message after an answer, several tool calls, reasoning, ...).

The check renders the shape's sentinel conversation, labels it with the preprocessor's own code path
(``label``), and compares the trained tokens with :func:`.reference.reference_regions`. A shape that
differs, or that the reference cannot attribute, is refused with a counted reason; the verdict is
cached per shape, so real data (a few hundred shapes) pays a few milliseconds per shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from ..templates.branching import text_reads
from ..templates.reference import conversation_openers, reference_regions
from ..templates.render import quiet_renderer
from ..templates.row_reference import row_regions
from ..templates.shapes import put_back, sentinel_conversation, shape_key, text_sentinels
from ..tokens.exact import special_token_ends
from ..tokens.masking import char_span_mask

Label = Callable[[str, list[bool]], "tuple[np.ndarray, np.ndarray] | None"]
Spans = list[tuple[int, int]]
# the verdict on a shape the labelling path itself refuses (a turn it cannot count or close): such rows
# are labelled by the reference on their own text where it attributes them, else refused with that reason
PATH_REFUSES = "refused by the labelling path"
_MAX_SHAPES = 20_000  # verdicts kept per process; past that, shapes are still checked, not cached


class ShapeVerifier:
    """Verdicts per conversation shape: None (labelled as the reference says) or the mismatch, in words.

    Args:
        tokenizer: the tokenizer (its offsets give the reference's token mask).
        render: ``render(messages, add_generation_prompt, tools=...) -> str`` (raises on template errors).
        label: the preprocessor's labelling of one rendered text and its per-turn flags: ``(ids, trained)``,
            or None when the preprocessor refuses the text itself.
        pattern: the tokenizer's special-token regex; ``split``: the added-token splitter for shapes.
        last: train only each row's last trained turn (``train_on="last"``).
        multi_block: the template renders consecutive assistant messages as one turn.
    """

    def __init__(self, tokenizer, render, label: Label, pattern: re.Pattern | None, split, last: bool,
                 multi_block: bool = False):
        self.tokenizer, self.render, self.label = tokenizer, render, label
        self.pattern, self.split, self.last, self.multi_block = pattern, split, last, multi_block
        self.verdicts: dict[tuple, str | None] = {}
        self.last_verdict: str | None = None  # the shape verdict of the row check_row saw last
        self.special_ids = {i for i, t in tokenizer.added_tokens_decoder.items() if t.special}
        self.openers = conversation_openers(quiet_renderer(render), pattern, "zq0x")
        # where the template reads message text (tests, splits, ...): then a shape's sentinel verdict
        # holds for a row only if the row renders as its sentinels do, which each row is checked for
        self.reads = text_reads(getattr(tokenizer, "chat_template", None) or "")

    def check_row(self, messages: list[dict], trained: list[bool], flags: list[bool], tools, text: str) -> Spans | str | None:
        """None: the labelling path labels this row as the reference does. Spans: the reference's own
        trained character spans of ``text``, for a row its shape's verdict does not cover (the shape
        differs, or the template read the row's text differently from the sentinels'). A string: the row
        cannot be attributed, in words."""
        verdict = self.last_verdict = self.check(messages, trained, flags, tools)
        if verdict is None and (not self.reads or self._renders_like_sentinels(messages, tools, text)):
            return None
        ref = row_regions(quiet_renderer(self.render, tools), messages, [bool(t) and m.get("role") == "assistant"
                          for m, t in zip(messages, trained)], self.pattern, self.split, self.openers, self.last)
        if ref is not None and ref[0] == text:
            return ref[1]
        if verdict == PATH_REFUSES:
            return None  # the labelling path refuses the row with its own reason
        return verdict or ("the template renders this row's text differently from its shape's (it reads the "
                           f"text: {'; '.join(self.reads[:3])}) and the row's own prefix renderings cannot be "
                           "attributed to its messages")

    def _renders_like_sentinels(self, messages: list[dict], tools, text: str) -> bool:
        msgs, texts = text_sentinels(messages, self.split)
        try:
            rendered = self.render(msgs, False, tools=tools)
        except Exception:  # noqa: BLE001 - a template that refuses the sentinel text: check the row itself
            return False
        return put_back(rendered, texts) == text

    def check(self, messages: list[dict], trained: list[bool], flags: list[bool], tools) -> str | None:
        key = shape_key(messages, trained, tools, self.split)
        if key in self.verdicts:
            return self.verdicts[key]
        shorter = shorter_conversation(messages, trained, flags, self.split, self.multi_block)
        # a long conversation is first verified on a shorter one of the same local shapes (its first and
        # last turns): the prefix renders cost O(turns^2), ~6 s for 400 turns; a refusal there is rechecked
        # on the whole conversation, so the shortcut can only save time, never refuse
        verdict = self._verify(*shorter, tools) if shorter is not None else "long"
        if verdict is not None:
            verdict = self._verify(messages, trained, flags, tools)
        if len(self.verdicts) < _MAX_SHAPES:
            self.verdicts[key] = verdict
        return verdict

    def _verify(self, messages, trained, flags, tools) -> str | None:
        msgs, s_tools, anchors = sentinel_conversation(messages, tools, self.split)
        needed = {j for j, t in enumerate(trained) if t}
        ref = reference_regions(quiet_renderer(self.render, s_tools), msgs, anchors, self.openers, self.pattern, needed)
        if ref is None:
            return "the template's rendering of this shape cannot be attributed to its messages"
        text, regions = ref
        chosen = [j for j in sorted(regions) if trained[j]]
        if self.last:
            chosen = chosen[-1:]
        got = self.label(text, flags)
        if got is None:
            return PATH_REFUSES
        ids, mask = got
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        if list(enc["input_ids"]) != ids.tolist():
            return None  # sanitized or re-encoded rows: not comparable here, the labelling path decides
        offs = np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
        starts = np.array([regions[j][0] for j in chosen], np.int64)
        stops = np.array([regions[j][1] for j in chosen], np.int64)
        expected = char_span_mask(offs[:, 0], special_token_ends(text, offs, ids, self.special_ids), starts, stops)
        if np.array_equal(expected, mask):
            return None
        return (
            f"the learned turn structure trains {_show(self.tokenizer, ids, mask)} where rendering each "
            f"assistant message's prefix trains {_show(self.tokenizer, ids, expected)}"
        )


_LONG = 12  # assistant turns past which a shape is first verified on its first and last _KEEP turns
_KEEP = 4


def shorter_conversation(messages: list[dict], trained: list[bool], flags: list[bool], split, multi_block: bool):
    """``(messages, trained, flags)`` of a shorter conversation with the same local shapes: the first and the
    last :data:`_KEEP` assistant turns, cut after a turn and before the message that followed one; None
    when the conversation is short, or a message left out has a neighbourhood (its own, the previous and
    the next message's shapes) that the shorter one does not have.

    Example:
        >>> chat = [m for i in range(20) for m in ({"role": "user", "content": f"q{i}"},
        ...                                        {"role": "assistant", "content": f"a{i}"})]
        >>> msgs, trained, flags = shorter_conversation(chat, [m["role"] == "assistant" for m in chat], [True] * 20, None, False)
        >>> len(msgs), [m["content"] for m in msgs][6:10]
        (16, ['q3', 'a3', 'q16', 'a16'])
    """
    turn_starts = [i for i, m in enumerate(messages) if m.get("role") == "assistant"
                   and not (multi_block and i and messages[i - 1].get("role") == "assistant")]
    if len(turn_starts) <= _LONG or len(turn_starts) != len(flags):
        return None
    head = _after_turn(messages, turn_starts[_KEEP - 1])
    tail = _after_turn(messages, turn_starts[-_KEEP - 1])
    if head is None or tail is None or head >= tail:
        return None
    kept = list(range(head)) + list(range(tail, len(messages)))
    keys = [shape_key([m], [t], None, split)[0][0] for m, t in zip(messages, trained)]

    def around(order: list[int]) -> set[tuple]:
        ks = [None] + [keys[i] for i in order] + [None]
        return {tuple(ks[k - 1 : k + 2]) for k in range(1, len(ks) - 1)}

    dropped = around(list(range(len(messages))))
    if not dropped <= around(kept):
        return None
    turn_of = {i: k for k, i in enumerate(turn_starts)}
    return ([messages[i] for i in kept], [trained[i] for i in kept],
            [flags[turn_of[i]] for i in kept if i in turn_of])


def _after_turn(messages: list[dict], start: int) -> int | None:
    """The index of the first message after the assistant turn that starts at ``start`` (None: none)."""
    i = start + 1
    while i < len(messages) and messages[i].get("role") == "assistant":
        i += 1
    return i if i < len(messages) else None


def _show(tokenizer, ids: np.ndarray, mask: np.ndarray, limit: int = 160) -> str:
    runs = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    parts = [tokenizer.decode(ids[a:b].tolist()) for a, b in zip(runs[::2], runs[1::2])]
    text = " | ".join(repr(p) for p in parts) or "nothing"
    return text if len(text) <= limit else text[:limit] + "..."
