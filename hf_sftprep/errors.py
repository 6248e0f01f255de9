"""Errors that name the row, the field, what was found, what was expected and the fix."""

from __future__ import annotations


class SFTPrepError(ValueError):
    """Any input or configuration problem found while preparing SFT data."""


class RowError(SFTPrepError):
    """A single record is invalid.

    ``reason`` is a short stable key (``"unknown_role"``, ``"no_assistant"``, ...)
    used to count dropped rows when ``on_invalid="drop"``.
    """

    def __init__(self, row: int | None, reason: str, message: str):
        self.row = row
        self.reason = reason
        self.detail = message
        prefix = f"row {row}: " if row is not None else ""
        super().__init__(prefix + message)

    def __reduce__(self):
        return (type(self), (self.row, self.reason, self.detail))


class TemplateError(SFTPrepError):
    """The chat template cannot be probed for assistant header / end-of-turn sequences."""


class OptionError(SFTPrepError):
    """An option has a value outside its allowed set."""
