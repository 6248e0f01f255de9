"""Test corpora, small records, a tiny model, the CLI as a subprocess, and an independent labelling reference."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

IGNORE = -100
DEMO_CHAT = Path(__file__).parents[1] / "hf_sftprep" / "data" / "demo_chat.jsonl"  # the packaged demo chats
END_OF_TURN = {"llama3": "<|eot_id|>", "qwen": "<|im_end|>", "smollm": "<|im_end|>"}  # by conftest tokenizer fixture

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


def chat(i: int, user: str | None = None, **extra) -> dict:
    """One exchange: user ``q{i}`` (or ``user``), assistant ``answer {i}``; ``extra`` are further columns."""
    return {**extra, "messages": [{"role": "user", "content": user or f"q{i}"}, {"role": "assistant", "content": f"answer {i}"}]}


def cli(*args, env_extra=None) -> subprocess.CompletedProcess:
    """``python -m hf_sftprep ARGS`` offline, in a subprocess."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "hf_sftprep", *args], capture_output=True, text=True, env=env, timeout=300)


def tiny_llama(vocab: int, attn: str = "sdpa", seed: int = 0):
    """A randomly initialised 2-layer Llama (hidden size 64) for fast model tests."""
    import torch
    import transformers

    torch.manual_seed(seed)
    config = transformers.LlamaConfig(
        vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=1024, attn_implementation=attn, attention_dropout=0.0,
    )
    return transformers.LlamaForCausalLM(config)


def trained_positions(row) -> list[int]:
    """Positions a prepared row trains; every label is -100 or its own input id."""
    assert all(lab in (-100, i) for i, lab in zip(row["input_ids"], row["labels"]))
    return [k for k, lab in enumerate(row["labels"]) if lab != -100]
