"""OpenAI tool calls and tool schemas -> what chat templates render. Pure Python.

Templates render a call's arguments with ``arguments | tojson`` (Qwen2.5, Llama 3.1, Hermes), so a JSON
string must be parsed into a dict first, or it comes out double-encoded ("{\\"city\\": ...}").
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from ..errors import RowError
from .clean import drop_none

CALL_SHAPE = "{'id': ..., 'type': 'function', 'function': {'name': ..., 'arguments': '{...}'}}"
FUNCTION_SHAPE = "{'name': ..., 'description': ..., 'parameters': {...}}"
TOOL_SHAPE = "{'type': 'function', 'function': " + FUNCTION_SHAPE + "}"


def _found(value: object) -> str:
    return f"a {type(value).__name__} ({str(value)[:60]!r})"


def _bad_call(row: int | None, field: str, found: str, expected: str, fix: str) -> RowError:
    message = f"{field} is {found}; expected {expected}. {fix}, or drop such rows with on_invalid='drop'."
    return RowError(row, "bad_tool_call", message)


def _arguments(row: int | None, field: str, arguments: object) -> dict:
    if isinstance(arguments, dict):
        return arguments
    fix = 'Write the arguments as a JSON object such as \'{"city": "Paris"}\' (\'{}\' for none)'
    if isinstance(arguments, str):
        try:
            parsed = json.loads(arguments)
        except json.JSONDecodeError as err:
            found = f"{arguments[:60]!r}, which is not valid JSON ({err.msg} at char {err.pos})"
            raise _bad_call(row, field, found, "a JSON object string or a dict", fix) from None
        if isinstance(parsed, dict):
            return parsed
        found = f"{arguments[:60]!r}, a JSON {type(parsed).__name__} rather than an object"
        raise _bad_call(row, field, found, "a JSON object string or a dict", fix)
    found = "missing" if arguments is None else _found(arguments)
    raise _bad_call(row, field, found, "a JSON object string or a dict", fix)


def _call(row: int | None, field: str, call: object, function_key: str | None) -> dict:
    """One call; ``function_key`` is None for a legacy ``function_call`` (name and arguments at the top)."""
    if not isinstance(call, Mapping):
        raise _bad_call(row, field, _found(call), f"a dict {CALL_SHAPE}", "Fix the call")
    kind = call.get("type", "function")
    if kind != "function":
        fix = "Only function calls are rendered: fix the type"
        raise _bad_call(row, f"{field}.type", repr(kind), "'function'", fix)
    fn = call if function_key is None else call.get(function_key)
    fn_field = field if function_key is None else f"{field}.{function_key}"
    if not isinstance(fn, Mapping):
        found = "missing" if fn is None else _found(fn)
        expected = "a dict {'name': ..., 'arguments': ...}"
        raise _bad_call(row, fn_field, found, expected, f"Write the call as {CALL_SHAPE}")
    name = fn.get("name")
    if not isinstance(name, str) or not name:
        found = "missing" if name is None else repr(name)
        raise _bad_call(row, f"{fn_field}.name", found, "the called function's name", "Add the name")
    arguments = _arguments(row, f"{fn_field}.arguments", fn.get("arguments"))
    out = {"id": call["id"]} if function_key is not None and "id" in call else {}
    out["type"] = "function"
    out["function"] = {**fn, "arguments": arguments}
    if function_key is not None:
        out.update((k, v) for k, v in call.items() if k not in out)
    return out


def tool_calls(row: int | None, where: str, calls: object, function_call: object) -> list[dict] | None:
    """An assistant message's ``tool_calls`` (or legacy ``function_call``), arguments parsed into dicts.

    ``calls`` may be a list or a JSON string holding one; ``None`` or ``[]`` means no calls.

    Example:
        >>> calls = [{"id": "c1", "function": {"name": "f", "arguments": '{"x": 1}'}}]
        >>> tool_calls(0, "message 1 (assistant)", calls, None)
        [{'id': 'c1', 'type': 'function', 'function': {'name': 'f', 'arguments': {'x': 1}}}]
    """
    if function_call is not None:
        if calls:
            raise RowError(
                row,
                "bad_tool_call",
                f"{where} has both 'tool_calls' and the legacy 'function_call'; expected one of them. "
                "Move the function_call into tool_calls, or drop such rows with on_invalid='drop'.",
            )
        return [_call(row, f"{where} field 'function_call'", function_call, None)]
    field = f"{where} field 'tool_calls'"
    if isinstance(calls, str):
        # parsed JSON text holds only the nulls its writer meant, so it is not cleaned
        calls = _parse_json(row, "bad_tool_call", field, calls)
    if calls is None or calls == []:
        return None
    if not isinstance(calls, list):
        raise _bad_call(row, field, _found(calls), f"a list of {CALL_SHAPE}", "Fix the record")
    return [_call(row, f"{field}[{j}]", call, "function") for j, call in enumerate(calls)]


def _parse_json(row: int | None, reason: str, field: str, text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise RowError(
            row,
            reason,
            f"{field} is {text[:60]!r}, which is not valid JSON ({err.msg} at char {err.pos}); expected a JSON "
            "list of objects. Fix the JSON, or drop such rows with on_invalid='drop'.",
        ) from None


def _schema_list(row: int | None, field: str, value: object, shape: str, keep_nulls: bool) -> list | None:
    if isinstance(value, str):
        value = _parse_json(row, "bad_tools", field, value) if value.strip() else None
    elif isinstance(value, list) and not keep_nulls:
        value = drop_none(value)
    if value is None or value == []:
        return value  # [] stays []: apply_chat_template passes tools=[] on, and templates may test `is not none`
    bad = next((j for j, t in enumerate(value) if not isinstance(t, dict)), None) if isinstance(value, list) else -1
    if bad is not None:
        found = _found(value) if bad < 0 else f"a list whose item {bad} is {_found(value[bad])}"
        raise RowError(
            row,
            "bad_tools",
            f"{field} is {found}; expected a list of {shape} or a JSON string of one. "
            "Fix the column, or drop such rows with on_invalid='drop'.",
        )
    return value


def record_tools(row: int | None, record: Mapping, keep_nulls: bool = False) -> list[dict] | None:
    """The tool schemas of one record: ``tools`` (a list or a JSON string), else legacy ``functions``.

    ``None`` values are dropped from a list (Arrow may have added them) unless ``keep_nulls`` (the caller
    removed those already), and never from a JSON string (its writer meant them). A blank string means no
    tools (None); an empty list stays ``[]``, as ``apply_chat_template(..., tools=[])`` receives it.

    Example:
        >>> record_tools(0, {"functions": [{"name": "f", "parameters": {}}]})
        [{'type': 'function', 'function': {'name': 'f', 'parameters': {}}}]
    """
    tools = _schema_list(row, "field 'tools'", record.get("tools"), "tool schemas " + TOOL_SHAPE, keep_nulls)
    if tools is not None:
        return tools
    functions = _schema_list(row, "field 'functions'", record.get("functions"), "function schemas " + FUNCTION_SHAPE,
                             keep_nulls)
    if not functions:
        return functions
    return [{"type": "function", "function": schema} for schema in functions]
