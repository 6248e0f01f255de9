"""Every option's allowed values, in one place: the ``Literal`` types the signatures use, the tuples
that argparse's ``choices=`` and the recipe read, and the one check that refuses anything else.

Example:
    >>> check_choice("train_on", "first", TrainOn)
    Traceback (most recent call last):
    ...
    hf_sftprep.errors.OptionError: train_on='first' is not supported; expected one of 'all', 'last'.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

from .errors import OptionError

Format = Literal["auto", "openai", "alpaca", "sharegpt"]
AlpacaPrompt = Literal["chat", "stanford"]
TrainOn = Literal["all", "last"]
TruncationSide = Literal["right", "left"]
MaxLengthStrategy = Literal["truncate", "drop", "error"]
OnInvalid = Literal["error", "drop"]
SpecialTokensInContent = Literal["error", "split", "allow"]
Backend = Literal["auto", "hf"]
PackStrategy = Literal["bfd"]
PackOverflow = Literal["error", "drop"]
ReturnTensors = Literal["pt", "np"]
Color = Literal["auto", "always", "never"]


def choices(kind) -> tuple:
    """The allowed values of a ``Literal`` alias (or of a plain sequence), in order.

    Example:
        >>> choices(OnInvalid)
        ('error', 'drop')
    """
    return get_args(kind) or tuple(kind)


def check_choice(name: str, value: object, allowed: Sequence[object] | object, prefix: str = "") -> None:
    """Raise ``OptionError`` (``"{prefix}{name}={value!r} is not supported; expected one of ..."``) when
    ``value`` is not one of ``allowed`` (a ``Literal`` alias or a sequence)."""
    allowed = choices(allowed)
    if value not in allowed:
        listed = ", ".join(repr(a) for a in allowed)
        raise OptionError(f"{prefix}{name}={value!r} is not supported; expected one of {listed}.")
