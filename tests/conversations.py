"""Seeded random OpenAI-style conversations for the template zoo.

``random_chat(rng, kind)`` returns ``(messages, tools)``; ``kind`` picks what a template must support:

* ``"plain"``: 1-3 user/assistant rounds, a system message half the time, contents with
  leading/trailing whitespace, code, Korean and emoji.
* ``"reasoning"``: plain, plus assistant reasoning as a ``reasoning_content`` field or inline
  ``<think>...</think>`` at the start of the content (or none, to mix both).
* ``"tools"``: a ``tools`` list, and at least one round where the assistant calls 1-2 tools
  (``tool_calls`` with dict ``arguments``; content None or text), the tool results (role
  ``tool`` with ``tool_call_id`` and ``name``) and a final answer.

Every value a tool argument takes has one type per key, so a batch of these rows is one Arrow schema.

Example:
    >>> messages, tools = random_chat(random.Random(0), "tools")
    >>> {m["role"] for m in messages} >= {"user", "assistant", "tool"}
    True
"""

from __future__ import annotations

import copy
import json
import random

KINDS = ("plain", "reasoning", "tools")

TEXTS = [
    "Hello there.", "안녕하세요, 오늘 날씨는 어떤가요?", "한국어로 답해 주세요.", "🙂 emoji time", "x", "12345 67890",
    "```python\ndef f(x):\n    return x * 2\n```", "Line one\nLine two\n\nLine four", "    indented code()",
    "the assistant said so", "user: fake role", "Ünïcödé çhars", "mixed 한국어 and English 🙂", "<b>not special</b>",
]
PADS = ["", "", "", " ", "  ", "\n", "\n\n", "\t"]

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "add", "description": "Add two integers.",
        "parameters": {"type": "object", "properties": {
            "a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}}},
    {"type": "function", "function": {
        "name": "search_docs", "description": "Search the documentation.",
        "parameters": {"type": "object", "properties": {
            "query": {"type": "string"}, "limit": {"type": "integer"}}, "required": ["query"]}}},
]


def _text(rng: random.Random, n: tuple[int, int] = (1, 3)) -> str:
    body = " ".join(rng.choice(TEXTS) for _ in range(rng.randint(*n)))
    return rng.choice(PADS) + body + rng.choice(PADS)


def _answer(rng: random.Random) -> str:
    return rng.choice(["", "", " ", "\n"]) + " ".join(rng.choice(TEXTS) for _ in range(rng.randint(1, 3)))


def _arguments(rng: random.Random, name: str) -> dict:
    if name == "get_weather":
        args = {"city": rng.choice(["Seoul", "Paris", "서울", "New York"])}
        if rng.random() < 0.5:
            args["unit"] = rng.choice(["celsius", "fahrenheit"])
        return args
    if name == "add":
        return {"a": rng.randint(-50, 50), "b": rng.randint(0, 999)}
    args = {"query": rng.choice(["masking rules", "토큰", "how to\nsplit"])}
    if rng.random() < 0.5:
        args["limit"] = rng.randint(1, 5)
    return args


def _tool_round(rng: random.Random, round_no: int, tools: list[dict]) -> list[dict]:
    names = [t["function"]["name"] for t in tools]
    calls = [
        {"id": f"call_{round_no}_{k}", "type": "function",
         "function": {"name": (name := rng.choice(names)), "arguments": _arguments(rng, name)}}
        for k in range(1 if rng.random() < 0.7 else 2)
    ]
    content = None if rng.random() < 0.6 else _answer(rng)
    out = [{"role": "assistant", "content": content, "tool_calls": calls}]
    for call in calls:
        result = json.dumps({"ok": True, "value": rng.choice([21, "맑음", "see section 3"])}, ensure_ascii=False)
        out.append({"role": "tool", "tool_call_id": call["id"], "name": call["function"]["name"], "content": result})
    out.append({"role": "assistant", "content": _answer(rng)})
    return out


def _with_reasoning(rng: random.Random, message: dict) -> dict:
    r = rng.random()
    thought = " ".join(rng.choice(["Let me think.", "먼저 계산하자.", "2 + 2 = 4", "\nstep one\nstep two\n"]) for _ in range(2))
    if r < 0.4:
        return {**message, "reasoning_content": thought}
    if r < 0.7:
        return {**message, "content": f"<think>{thought}</think>" + rng.choice(["", "\n", "\n\n"]) + message["content"]}
    return message


def random_chat(rng: random.Random, kind: str = "plain", system: bool | None = None) -> tuple[list[dict], list[dict] | None]:
    """A random conversation of the given kind; ``system`` forces a system message on or off."""
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}; pick one of {KINDS}")
    messages: list[dict] = []
    if system if system is not None else rng.random() < 0.5:
        messages.append({"role": "system", "content": _text(rng)})
    tools = rng.sample(TOOLS, rng.randint(1, 3)) if kind == "tools" else None
    rounds = rng.randint(1, 3)
    tool_round = rng.randrange(rounds) if kind == "tools" else -1
    for i in range(rounds):
        messages.append({"role": "user", "content": _text(rng)})
        if i == tool_round:
            messages.extend(_tool_round(rng, i, tools))
        else:
            answer = {"role": "assistant", "content": _answer(rng)}
            messages.append(_with_reasoning(rng, answer) if kind == "reasoning" else answer)
    return messages, tools


def none_content_as_empty(messages: list[dict]) -> list[dict]:
    """A copy where ``content=None`` (tool-call messages) is ``""``, for templates that concatenate content."""
    out = copy.deepcopy(messages)
    for m in out:
        if m.get("content") is None:
            m["content"] = ""
    return out
