"""Which record layout a dataset holds, from its column names (the formats are in :mod:`.formats`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import SFTPrepError
from ..options import Format, check_choice
from .formats import FORMAT_CHOICES, FORMATS, expected_columns


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
    check_choice("format", fmt, FORMAT_CHOICES)
    cols = set(columns)
    if column_map:
        missing = [c for c in column_map.values() if c not in cols]
        if missing:
            raise SFTPrepError(
                f"column_map names columns {missing} that the dataset lacks; columns found: {sorted(cols)}. "
                "Fix the mapping so each value is an existing column."
            )
        return "mapped"
    for candidate in FORMATS.values() if fmt == "auto" else (FORMATS[fmt],):
        if candidate.matches(cols, features):
            return candidate.name
    raise SFTPrepError(
        f"cannot find the record format: columns found are {sorted(cols)}; expected {expected_columns(fmt)}. "
        "Rename the columns, or pass column_map={'system': ..., 'user': ..., 'assistant': ...}."
    )
