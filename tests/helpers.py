"""Test corpora and an independent, slow, obviously-correct labelling reference."""

from __future__ import annotations

import random

IGNORE = -100

PIECES = [
    "Hello there.", "안녕하세요, 오늘 날씨는 어떤가요?", "数据准备很重要。", "🙂🚀 emoji time", "### Response:",
    "the assistant said so", "assistant", "```python\ndef f(x):\n    return x * 2\n```", "  leading spaces",
    "trailing spaces   ", "\ttab first", "\n\nnewlines first", "ends with newlines\n\n", "x", "12345 67890",
    "<html>not special</html>", "user: fake role", "Line one\nLine two\n\nLine four", "    indented code()",
    "Ünïcödé çhars", "\r\nwindows newline", " ", "mixed 한국어 and English 🙂",
]


def random_text(rng: random.Random, long: bool = False) -> str:
    n = rng.randint(40, 80) if long else rng.randint(1, 4)
    return "".join(rng.choice(PIECES) + rng.choice(["", " ", "\n", "\n\n", "\t"]) for _ in range(n))


def random_answer(rng: random.Random) -> str:
    text = random_text(rng, long=rng.random() < 0.05)
    if not text.strip():
        text += "ok"
    return text


def random_conversation(rng: random.Random) -> list[dict]:
    """1-8 turns; optional system first; user/assistant alternating; tricky whitespace and unicode."""
    messages = []
    if rng.random() < 0.5:
        messages.append({"role": "system", "content": random_text(rng)})
    for _ in range(rng.randint(1, 4)):
        messages.append({"role": "user", "content": random_text(rng, long=rng.random() < 0.05)})
        messages.append({"role": "assistant", "content": random_answer(rng)})
    return messages


def reference_labels(
    tokenizer, messages: list[dict], end_text: str, last_only: bool = False, tools=None, trained=None
) -> tuple[list[int], list[int]]:
    """Labels from rendered prefixes: render messages[:i] with add_generation_prompt=True to find where
    answer i starts; it ends after the next ``end_text``. Characters -> tokens by offset mapping.
    ``trained[i]`` (default: every assistant message) says which messages count; ``tools`` go to the template."""
    full = tokenizer.apply_chat_template(messages, tools=tools, tokenize=False)
    trained = trained if trained is not None else [m["role"] == "assistant" for m in messages]
    spans = []
    for i, m in enumerate(messages):
        if not trained[i]:
            continue
        prefix = tokenizer.apply_chat_template(messages[:i], tools=tools, tokenize=False, add_generation_prompt=True)
        assert full.startswith(prefix)
        stop = full.index(end_text, len(prefix)) + len(end_text)
        spans.append((len(prefix), stop))
    if last_only:
        spans = spans[-1:]
    enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    labels = []
    for tid, (s, e) in zip(enc["input_ids"], enc["offset_mapping"]):
        inside = any(a <= s and e <= b for a, b in spans) and e > s
        labels.append(tid if inside else IGNORE)
    return enc["input_ids"], labels


def trained_text(tokenizer, labels: list[int]) -> str:
    return tokenizer.decode([t for t in labels if t != IGNORE])


def as_lists(out) -> dict:
    """A map function's output (Arrow table, or dict of numpy arrays) as plain Python lists."""
    if hasattr(out, "to_pydict"):
        return out.to_pydict()
    return {k: [x.tolist() if hasattr(x, "tolist") else x for x in v] for k, v in out.items()}
