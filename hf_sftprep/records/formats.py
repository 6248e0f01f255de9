"""The record-format registry: each layout's columns, how it is recognized, and how a row becomes a Conversation.

Detection (:func:`~hf_sftprep.records.detect.detect_format`), dispatch
(:func:`~hf_sftprep.records.dispatch.to_conversation`), the ``format`` choices of the CLI and the recipe,
the mixture's system prompt and the columns ``prepare`` drops all read :data:`FORMATS`.

Example:
    >>> list(FORMATS)
    ['openai', 'alpaca', 'sharegpt']
    >>> FORMATS["alpaca"].columns
    ('instruction', 'input', 'output', 'system', 'history')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .alpaca import ALPACA_COLUMNS, alpaca_messages
from .openai import Conversation, openai_conversation
from .sharegpt import SHAREGPT_ROLES, sharegpt_record


@dataclass(frozen=True)
class ChatLayout:
    """Where a chat format keeps its messages: the column, the keys of each item, and which of the row's
    role names mean what (``roles(role_map)`` maps a name found in the row to a normalized role)."""

    column: str
    role_key: str
    content_key: str
    roles: Callable[[Mapping[str, str]], dict[str, str]]


@dataclass(frozen=True)
class RecordFormat:
    """One record layout.

    ``required`` columns identify it (with ``features_match`` on the dataset's features, when set);
    ``columns`` are every column a row of it is read from, which ``prepare`` does not keep beside the tokens.
    ``expected`` is what ``detect_format``'s error asks for when this format is named, ``summary`` the same
    in the list of every format. ``chat`` is None for a layout of prompt/answer columns. ``system`` is the
    column that holds a row's own system prompt (LLaMA-Factory's and Axolotl's ``system``), or None.
    """

    name: str
    columns: tuple[str, ...]
    required: tuple[str, ...]
    expected: str
    summary: str
    convert: Callable[[int, Mapping, Mapping[str, str] | None, bool, bool], Conversation]
    chat: ChatLayout | None = None
    features_match: Callable[[Mapping | None], bool] | None = None
    system: str | None = None

    def matches(self, columns: set[str], features: Mapping | None = None) -> bool:
        """Whether a dataset with these columns (and features) holds records of this format."""
        return set(self.required) <= columns and (self.features_match is None or self.features_match(features))


def plain_conversation(messages: list[dict]) -> Conversation:
    """A Conversation of plain messages: every assistant message trained, no tools, no reasoning."""
    return Conversation(messages, None, [m["role"] == "assistant" for m in messages], [None] * len(messages))


def _sharegpt(row: int, record: Mapping, role_map: Mapping[str, str] | None, keep_developer: bool,
              keep_nulls: bool = False) -> Conversation:
    # an OpenAI record once converted, so it is normalized like one
    return openai_conversation(row, sharegpt_record(row, record, role_map), None, keep_developer, keep_nulls)


def _alpaca(row: int, record: Mapping, role_map: Mapping[str, str] | None, keep_developer: bool,
            keep_nulls: bool = False) -> Conversation:
    return plain_conversation(alpaca_messages(row, record))


def _openai_roles(role_map: Mapping[str, str]) -> dict[str, str]:
    names = {r: role_map.get(r, r) for r in ("system", *role_map)}
    # developer messages are rendered as system ones, so they count as the row's own
    names["developer"] = role_map.get("developer", "system")
    return names


def _sharegpt_roles(role_map: Mapping[str, str]) -> dict[str, str]:
    return {**SHAREGPT_ROLES, **role_map}


def _from_value_items(features: Mapping | None) -> bool:
    """True unless ``features`` shows that the ``conversations`` items lack ``from`` / ``value``."""
    item = getattr((features or {}).get("conversations"), "feature", None)
    return item is None or not isinstance(item, Mapping) or {"from", "value"} <= set(item)


# in the order auto-detection tries them, which is also the order of options.Format
FORMATS: dict[str, RecordFormat] = {
    f.name: f
    for f in (
        RecordFormat(
            name="openai",
            columns=("messages", "tools", "functions", "parallel_tool_calls"),
            required=("messages",),
            expected="a 'messages' column",
            summary="a 'messages' column (OpenAI chat)",
            convert=openai_conversation,
            chat=ChatLayout("messages", "role", "content", _openai_roles),
        ),
        RecordFormat(
            name="alpaca",
            columns=ALPACA_COLUMNS,
            required=("instruction", "output"),
            expected="'instruction' and 'output' columns (and optionally 'input')",
            summary="'instruction' + 'output' (+ optional 'input') columns (Alpaca)",
            convert=_alpaca,
            system="system",
        ),
        RecordFormat(
            name="sharegpt",
            columns=("conversations", "tools", "system"),
            required=("conversations",),
            expected="a 'conversations' column of {from, value} items",
            summary="a 'conversations' column of {from, value} items (ShareGPT)",
            convert=_sharegpt,
            chat=ChatLayout("conversations", "from", "value", _sharegpt_roles),
            features_match=_from_value_items,
            system="system",
        ),
    )
}

# a column a peer config's converter writes for a row it refused under on_invalid="drop" ("reason\tdetail"):
# read by every format (records/dispatch.py raises it again), never kept as a user column (datasets/schema.py)
REFUSED = "hf_sftprep_refused"

# the values of the ``format`` option: "auto" tries every format in order
FORMAT_CHOICES = ("auto", *FORMATS)


def record_columns(fmt: str, column_map: Mapping[str, str] | None = None) -> set[str]:
    """The columns a row of ``fmt`` is read from (``"mapped"``: the columns ``column_map`` names).

    Example:
        >>> sorted(record_columns("sharegpt"))
        ['conversations', 'system', 'tools']
        >>> sorted(record_columns("mapped", {"user": "q", "assistant": "a"}))
        ['a', 'q']
    """
    if fmt == "mapped":
        return set(column_map.values()) if column_map else set()
    return set(FORMATS[fmt].columns) if fmt in FORMATS else set()


def expected_columns(fmt: str) -> str:
    """What ``detect_format`` asks for when no format (``"auto"``) or ``fmt`` is not found.

    Example:
        >>> expected_columns("openai")
        "a 'messages' column"
    """
    if fmt != "auto":
        return FORMATS[fmt].expected
    *rest, last = (f.summary for f in FORMATS.values())
    return f"{', '.join(rest)} or {last}"
