"""Alpaca records (``instruction``, ``input``, ``output``) -> chat messages or the Stanford prompt."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import RowError
from .openai import _check_content

ALPACA_COLUMNS = ("instruction", "input", "output")

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


def alpaca_messages(row: int, record: Mapping[str, object]) -> list[dict]:
    """Alpaca record -> user/assistant messages (user = instruction, plus "\\n\\n" + input if any).

    Example:
        >>> alpaca_messages(0, {"instruction": "Add", "input": "1+1", "output": "2"})
        [{'role': 'user', 'content': 'Add\\n\\n1+1'}, {'role': 'assistant', 'content': '2'}]
    """
    instruction, inp, output = _alpaca_fields(row, record)
    user = f"{instruction}\n\n{inp}" if inp.strip() else instruction
    return [{"role": "user", "content": user}, {"role": "assistant", "content": output}]


def stanford_prompt(row: int, record: Mapping[str, object]) -> tuple[str, str]:
    """Alpaca record -> (Stanford prompt ending in "### Response:", output)."""
    instruction, inp, output = _alpaca_fields(row, record)
    if inp.strip():
        return STANFORD_PROMPT_INPUT.format(instruction=instruction, input=inp), output
    return STANFORD_PROMPT_NO_INPUT.format(instruction=instruction), output
