"""The library's errors name Python options (``assistant_header=...``); on the command line they name the flags."""

from __future__ import annotations

import ast
import json
import re

from .loading import CLIError

_QUOTED = r"('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\.\.\.)"
_TEXT_FLAGS = {"assistant_header": "--assistant-header", "end_of_turn": "--end-of-turn"}
_CHOICE_FLAGS = {"on_invalid": "--on-invalid", "overflow": "--pack-overflow", "truncation_side": "--truncation-side",
                 "special_tokens_in_content": "--special-tokens-in-content", "alpaca_prompt": "--alpaca-prompt"}


def _text(match: re.Match) -> str:
    value = match.group(2)
    return f"{_TEXT_FLAGS[match.group(1)]} {'TEXT' if value == '...' else value}"


def _choice(match: re.Match) -> str:
    return f"{_CHOICE_FLAGS[match.group(1)]} {match.group(2).strip(chr(39) + chr(34))}"


def _mapping(match: re.Match, columns: list[str] | None = None) -> str:
    """The flag for a Python mapping; ``...`` (the library's "fill in a name") becomes COLUMN or NAME, and
    with the dataset's columns known the flag says which names COLUMN may be."""
    flag = "--role-map" if match.group(1) == "role_map" else "--column-map"
    blank = "COLUMN" if flag == "--column-map" else "NAME"
    try:
        value = ast.literal_eval(match.group(2))
    except (ValueError, SyntaxError):
        return f"{flag} NAME=NAME"
    if not isinstance(value, dict):
        return f"{flag} NAME=NAME"
    pairs = {blank if k is Ellipsis else k: blank if v is Ellipsis else v for k, v in value.items()}
    text = f"{flag} " + ",".join(f"{k}={v}" for k, v in pairs.items())
    if blank in pairs.values() and columns and flag == "--column-map":
        text += f" (each COLUMN one of the columns found: {', '.join(columns)}; leave out system if none holds it)"
    return text


def _columns_found(message: str) -> list[str] | None:
    """The column names a "columns found are [...]" message lists, else None."""
    match = re.search(r"columns found(?: are|:) (\[[^\]]*\])", message)
    try:
        names = ast.literal_eval(match.group(1)) if match else None
    except (ValueError, SyntaxError):
        return None
    return [str(n) for n in names] if isinstance(names, list) else None


def flag_hints(message: str) -> str:
    """``message`` with each Python option spelled as the ``hf-sftprep build`` flag that sets it.

    Example:
        >>> flag_hints("Map custom roles with role_map={'robot': 'assistant'}, or pass overflow='drop'.")
        'Map custom roles with --role-map robot=assistant, or pass --pack-overflow drop.'
    """
    message = re.sub(rf"\b({'|'.join(_TEXT_FLAGS)})={_QUOTED}", _text, message)
    message = re.sub(rf"\b({'|'.join(_CHOICE_FLAGS)})=('[a-z_]+'|\"[a-z_]+\")", _choice, message)
    columns = _columns_found(message)
    message = re.sub(r"\b(role_map|column_map)=(\{[^{}]*\})", lambda m: _mapping(m, columns), message)
    message = re.sub(r"\bRe-run prepare\(\.\.\., max_length=(\d+)\)", r"Rebuild with --max-length \1", message)
    message = re.sub(r"\bprepare\(\.\.\., max_length=(\d+)\)", r"--max-length \1", message)
    return re.sub(r"\bmax_length=(\d+)", r"--max-length \1", message)


def parse_mapping(flag: str, text: str | None) -> dict[str, str] | None:
    """``a=b,c=d`` or a JSON object -> a dict of names, or a one-line error naming the flag.

    Example:
        >>> parse_mapping("--role-map", "human=user,gpt=assistant")
        {'human': 'user', 'gpt': 'assistant'}
    """
    if text is None:
        return None
    if text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            raise CLIError(f"{flag} {text!r}: not valid JSON ({err.msg}); write e.g. {flag} human=user,gpt=assistant.") from None
    else:
        pairs = [p.split("=", 1) for p in text.split(",") if p.strip()]
        if not pairs or any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
            raise CLIError(f"{flag} {text!r}: expected NAME=NAME pairs separated by commas, e.g. "
                           f"{flag} human=user,gpt=assistant, or a JSON object.")
        value = {k.strip(): v.strip() for k, v in pairs}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise CLIError(f"{flag} {text!r}: expected a mapping of names to names, e.g. {flag} human=user,gpt=assistant.")
    return value
