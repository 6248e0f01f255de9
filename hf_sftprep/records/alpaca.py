"""Alpaca records (``instruction``, ``input``, ``output``; optional ``system``, ``history``) -> chat messages
or the Stanford prompt.

``system`` and ``history`` are read as LLaMA-Factory's alpaca converter reads them (and Axolotl's
``alpaca_w_system`` the ``system`` column): the row's system prompt, and ``[instruction, response]`` pairs
that come before the row's own turn.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import RowError
from .openai import _check_content
from .sharegpt import row_system

ALPACA_COLUMNS = ("instruction", "input", "output", "system", "history")

# Stanford Alpaca's PROMPT_DICT (train.py), verbatim.
STANFORD_PROMPT_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
STANFORD_PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:"
)


def _alpaca_fields(row: int, record: Mapping[str, object]) -> tuple[str, str, str]:
    instruction = _check_content(row, "field 'instruction'", record.get("instruction"))
    raw_input = record.get("input")
    inp = "" if raw_input is None else _check_content(row, "field 'input'", raw_input)
    output = _check_content(row, "field 'output'", record.get("output"))
    if not output.strip():
        raise RowError(
            row,
            "empty_answer",
            f"field 'output' is {output!r}; expected a non-empty answer. Drop such rows with on_invalid='drop'.",
        )
    return instruction, inp, output


def _bad_history(row: int, where: str, found: object, expected: str) -> RowError:
    return RowError(
        row,
        "bad_messages",
        f"field {where} is a {type(found).__name__} ({repr(found)[:60]}); expected {expected}. Write the turns "
        "before this one as [[instruction, response], ...], or drop such rows with on_invalid='drop'.",
    )


def history_messages(row: int, record: Mapping[str, object]) -> list[dict]:
    """The ``history`` column's pairs as user/assistant messages (none when the column is null or empty).

    Example:
        >>> history_messages(0, {"history": [["2+2?", "4"]]})
        [{'role': 'user', 'content': '2+2?'}, {'role': 'assistant', 'content': '4'}]
    """
    history = record.get("history")
    if history is None:
        return []
    if not isinstance(history, (list, tuple)):
        raise _bad_history(row, "'history'", history, "a list of [instruction, response] pairs, or null / [] for none")
    messages = []
    for i, pair in enumerate(history):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(isinstance(t, str) for t in pair):
            raise _bad_history(row, f"'history'[{i}]", pair, "an [instruction, response] pair of two strings")
        if not pair[1].strip():
            # the history's answers are trained like the row's output (LLaMA-Factory trains them too)
            raise RowError(
                row,
                "empty_answer",
                f"field 'history'[{i}] has response {pair[1]!r}; expected a non-empty answer (history answers "
                "are trained). Remove the pair, or drop such rows with on_invalid='drop'.",
            )
        messages += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    return messages


def alpaca_messages(row: int, record: Mapping[str, object]) -> list[dict]:
    """Alpaca record -> chat messages: the ``system`` column, the ``history`` pairs, then user = instruction
    (plus "\\n\\n" + input if any) and assistant = output.

    Example:
        >>> alpaca_messages(0, {"instruction": "Add", "input": "1+1", "output": "2"})
        [{'role': 'user', 'content': 'Add\\n\\n1+1'}, {'role': 'assistant', 'content': '2'}]
        >>> alpaca_messages(0, {"instruction": "And 3+3?", "output": "6", "system": "Be terse.",
        ...                     "history": [["2+2?", "4"]]})  # doctest: +NORMALIZE_WHITESPACE
        [{'role': 'system', 'content': 'Be terse.'}, {'role': 'user', 'content': '2+2?'},
         {'role': 'assistant', 'content': '4'}, {'role': 'user', 'content': 'And 3+3?'},
         {'role': 'assistant', 'content': '6'}]
    """
    instruction, inp, output = _alpaca_fields(row, record)
    user = f"{instruction}\n\n{inp}" if inp.strip() else instruction
    system = row_system(row, record)
    head = [] if system is None else [{"role": "system", "content": system}]
    return [*head, *history_messages(row, record), {"role": "user", "content": user},
            {"role": "assistant", "content": output}]


def _stanford_only(row: int, record: Mapping[str, object]) -> None:
    """Stanford's prompt is one fixed preamble, one instruction and one response: refuse what it cannot hold."""
    system = row_system(row, record)
    history = history_messages(row, record)
    if system is None and not history:
        return
    found = f"'system' is {system[:40]!r}" if system is not None else f"'history' holds {len(history) // 2} pair(s)"
    raise RowError(
        row,
        "unsupported_column",
        f"field {found}, but alpaca_prompt='stanford' writes one instruction and its response under a fixed "
        "preamble, with no place for a system prompt or earlier turns; expected the column null or empty. Use "
        "alpaca_prompt='chat' (a tokenizer with a chat template), remove the column, or drop such rows with "
        "on_invalid='drop'.",
    )


def stanford_prompt(row: int, record: Mapping[str, object]) -> tuple[str, str]:
    """Alpaca record -> (Stanford prompt ending in "### Response:", output)."""
    instruction, inp, output = _alpaca_fields(row, record)
    _stanford_only(row, record)
    if inp.strip():
        return STANFORD_PROMPT_INPUT.format(instruction=instruction, input=inp), output
    return STANFORD_PROMPT_NO_INPUT.format(instruction=instruction), output
