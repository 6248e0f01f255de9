"""Which assistant turns' reasoning a rendering left out (the report's ``reasoning_dropped_turns``).

A turn's reasoning counts as rendered only where it occurs in that turn's own part of the rendering:
past the text of the messages before it and before the turn's own answer. Text found anywhere in the
rendering is not enough: Qwen3 drops history reasoning, and the same words may come back in a later
turn's reasoning or be an answer's own text.

Example:
    >>> msgs = [{"role": "user", "content": "q1"},
    ...         {"role": "assistant", "content": "A1", "reasoning_content": "Let me think."},
    ...         {"role": "user", "content": "q2"},
    ...         {"role": "assistant", "content": "A2", "reasoning_content": "Let me think."}]
    >>> dropped_reasoning("q1 A1 q2 <think>Let me think.</think> A2", msgs, [None, "Let me think.", None, "Let me think."])
    1
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_THINK = re.compile(r"</?think>")


def _answer(message: dict) -> str:
    """The message's own answer text, stripped: its content past any inline reasoning block."""
    content = message.get("content")
    if not isinstance(content, str):
        return ""
    pieces = [p.strip() for p in _THINK.split(content) if p.strip()]
    return pieces[-1] if pieces else ""


def _next_text(messages: Sequence[dict], j: int) -> str:
    return next((a for m in messages[j + 1 :] if (a := _answer(m))), "")


def dropped_reasoning(text: str, messages: Sequence[dict], reasoning: Sequence[str | None]) -> int:
    """How many messages have reasoning (``reasoning[j]``) that ``text`` does not render in their turn."""
    dropped, cursor = 0, 0
    for j, m in enumerate(messages):
        own = _answer(m)
        r = (reasoning[j] or "").strip() if j < len(reasoning) else ""
        if r:
            at = text.find(r, cursor)
            after = at + len(r)
            # rendered: found past the earlier messages, before any later message's text, and with the
            # turn's own answer still to come after it
            later = _next_text(messages, j)
            seen_later = later and 0 <= text.find(later, cursor) < at
            if at < 0 or seen_later or (own and text.find(own, after) < 0):
                dropped += 1
            else:
                cursor = after
        if own and (at_own := text.find(own, cursor)) >= 0:
            cursor = at_own + len(own)
    return dropped
