"""Records -> normalized Conversation: the format registry, detection and dispatch (pure Python).

The layers above read a dataset's format with :func:`detect_format`, turn each row into a
:class:`Conversation` with :func:`to_conversation`, and look a format's columns up in :data:`FORMATS`.
"""

from .alpaca import stanford_prompt
from .detect import detect_format
from .dispatch import to_conversation, turn_flags
from .formats import FORMAT_CHOICES, FORMATS, ChatLayout, RecordFormat, record_columns
from .openai import ROLES, Conversation

__all__ = [
    "FORMATS",
    "FORMAT_CHOICES",
    "ROLES",
    "ChatLayout",
    "Conversation",
    "RecordFormat",
    "detect_format",
    "record_columns",
    "stanford_prompt",
    "to_conversation",
    "turn_flags",
]
