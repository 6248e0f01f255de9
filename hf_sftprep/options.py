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
from dataclasses import dataclass, fields
from typing import Literal, get_args

from .errors import OptionError, SFTPrepError

Format = Literal["auto", "openai", "alpaca", "sharegpt"]
AlpacaPrompt = Literal["chat", "stanford"]
TrainOn = Literal["all", "last"]
TrainOnEot = Literal["turn", "last", "none", "all"]
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


@dataclass(frozen=True)
class PrepOptions:
    """The options of one :class:`~hf_sftprep.datasets.preprocess.SFTPreprocessor`, checked once.

    The field order is part of the cache key (``to_dict()`` is hashed into the fingerprint); append new
    fields at the end. See ``SFTPreprocessor`` for what each means.
    """

    format: Format = "auto"
    column_map: dict | None = None
    role_map: dict | None = None
    alpaca_prompt: AlpacaPrompt = "chat"
    train_on: TrainOn = "all"
    train_on_inputs: bool = False
    max_length: int | None = None
    truncation_side: TruncationSide = "right"
    max_length_strategy: MaxLengthStrategy = "truncate"
    on_invalid: OnInvalid = "error"
    special_tokens_in_content: SpecialTokensInContent = "error"
    assistant_header: str | None = None
    end_of_turn: str | None = None
    emit_meta: bool = False
    dedupe_pieces: bool = True
    backend: Backend = "auto"
    features: object = None  # the input's datasets.Features: which nested nulls are the user's
    train_on_eot: TrainOnEot = "turn"

    def __post_init__(self):
        for name, kind in (
            ("format", Format),
            ("alpaca_prompt", AlpacaPrompt),
            ("train_on", TrainOn),
            ("train_on_eot", TrainOnEot),
            ("truncation_side", TruncationSide),
            ("max_length_strategy", MaxLengthStrategy),
            ("on_invalid", OnInvalid),
            ("special_tokens_in_content", SpecialTokensInContent),
            ("backend", Backend),
        ):
            check_choice(name, getattr(self, name), kind)
        if self.max_length is not None and (not isinstance(self.max_length, int) or self.max_length < 1):
            raise SFTPrepError(
                f"max_length={self.max_length!r} is not a positive int; pass a positive int, or None for no limit."
            )
        for name in ("column_map", "role_map"):  # copies: the caller's dicts may change after construction
            value = getattr(self, name)
            object.__setattr__(self, name, dict(value) if value else None)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}
