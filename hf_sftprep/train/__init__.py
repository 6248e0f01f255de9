"""Training on prepared rows: the padding collator, length-grouped batches and the ``Trainer`` adapter."""

from .batching import length_grouped_batches, padding_waste
from .collator import SFTDataCollator
from .trainer import build_trainer

__all__ = ["SFTDataCollator", "build_trainer", "length_grouped_batches", "padding_waste"]
