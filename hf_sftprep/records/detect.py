"""Which record layout a dataset holds, from its column names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import SFTPrepError
from ..options import Format, check_choice, choices

ROLES = ("system", "user", "assistant", "tool")
FORMATS = choices(Format)


def _from_value_items(features: Mapping | None) -> bool:
    """True unless ``features`` shows that the ``conversations`` items lack ``from`` / ``value``."""
    item = getattr((features or {}).get("conversations"), "feature", None)
    return item is None or not isinstance(item, Mapping) or {"from", "value"} <= set(item)


def detect_format(
    columns: Sequence[str],
    fmt: Format = "auto",
    column_map: Mapping[str, str] | None = None,
    features: Mapping | None = None,
) -> str:
    """Pick the record format from the dataset's column names (and, when given, its ``features``).

    Example:
        >>> detect_format(["instruction", "output"])
        'alpaca'
    """
    check_choice("format", fmt, FORMATS)
    cols = set(columns)
    if column_map:
        missing = [c for c in column_map.values() if c not in cols]
        if missing:
            raise SFTPrepError(
                f"column_map names columns {missing} that the dataset lacks; columns found: {sorted(cols)}. "
                "Fix the mapping so each value is an existing column."
            )
        return "mapped"
    if fmt in ("auto", "openai") and "messages" in cols:
        return "openai"
    if fmt in ("auto", "alpaca") and {"instruction", "output"} <= cols:
        return "alpaca"
    if fmt in ("auto", "sharegpt") and "conversations" in cols and _from_value_items(features):
        return "sharegpt"
    wanted = {
        "auto": "a 'messages' column (OpenAI chat), 'instruction' + 'output' (+ optional 'input') columns (Alpaca) "
        "or a 'conversations' column of {from, value} items (ShareGPT)",
        "openai": "a 'messages' column",
        "alpaca": "'instruction' and 'output' columns (and optionally 'input')",
        "sharegpt": "a 'conversations' column of {from, value} items",
    }[fmt]
    raise SFTPrepError(
        f"cannot find the record format: columns found are {sorted(cols)}; expected {wanted}. "
        "Rename the columns, or pass column_map={'system': ..., 'user': ..., 'assistant': ...}."
    )
