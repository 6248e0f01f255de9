"""Offline fixtures for chat-template families that TRL's ``chat_templates/`` folder lacks.

Each family's PUBLISHED template is stored verbatim under ``templates/<file>.jinja``; where it
came from is recorded in :data:`FAMILIES` (``source``), never inside the file, so the text
renders exactly as the model repository's does. The tokenizer is the zoo's stand-in
(:mod:`hf_sftprep.testing.zoo`): Qwen2.5's real BPE plus the family's control strings as special
tokens, with the ``rstrip`` / ``lstrip`` flags the family's published tokenizer sets, its plain
added tokens (``<think>``, ``<tool_call>``) and its bos / eos / pad.

Named templates (Command R ships ``default``, ``tool_use`` and ``rag``; Hermes 2 Pro ships
``default`` and ``tool_use``) become a dict ``chat_template``, as ``AutoTokenizer`` loads them.

:func:`mistral_tokenizer` builds the REAL Mistral vocabularies that ``mistral-common`` bundles
(SentencePiece v1 / v3, tekken v3 / v7), paired with the matching published Mistral template.

Example:
    >>> tok = family_tokenizer("command_r", "/tmp/fam")
    >>> sorted(tok.chat_template), tok.eos_token
    (['default', 'rag', 'tool_use'], '<|END_OF_TURN_TOKEN|>')
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ...errors import SFTPrepError
from ..zoo import _QWEN_SPECIALS, CONTROL_PATTERNS, _base_bpe

TEMPLATE_DIR = Path(__file__).parent / "templates"

# Mistral's control tokens: [INST], [/INST], [TOOL_CALLS], [AVAILABLE_TOOLS], [SYSTEM_PROMPT], ...
_BRACKET = re.compile(r"\[/?[A-Z][A-Z_]{2,30}\]")

# Where the verbatim copies were read. llama-cpp-python's sdist vendors llama.cpp's
# models/templates/ (written by scripts/get_chat_template.py straight from the hub's
# tokenizer_config.json) and tests/test-chat-template.cpp (hub templates as C string literals).
_LLAMA_CPP = "llama-cpp-python 0.3.36 sdist (PyPI), vendor/llama.cpp/"
_VLLM = "github vllm-project/vllm@"


@dataclass(frozen=True)
class Family:
    """One template family: its verbatim template file(s) and the tokenizer settings it ships.

    Attributes:
        name: family name.
        templates: file stem under ``templates/``, or ``{template name: file stem}`` for a family
            that publishes named templates.
        source: where each template text was read (repo + path + commit, or URL).
        bos, eos, pad: as the family's published tokenizer sets them (None where it has none).
        extra: special strings the template reaches only indirectly (``'<|' + role + '|>'``,
            bos / eos variables) that no pattern finds in its text.
        rstrip, lstrip: special tokens published with ``rstrip=True`` / ``lstrip=True``.
        plain: non-special added tokens of the family (``<think>``, ``<tool_call>`` ...).
        tools: whether the template renders assistant ``tool_calls``.
        brackets: whether ``[UPPER_CASE]`` strings are control tokens (Mistral).
        notes: how the template renders, where it departs from "header + content + closer".
        verified: which tokenizer settings were checked against a published file; the rest
            are assumed from the template and the family's model card.
    """

    name: str
    templates: str | dict[str, str]
    source: str
    bos: str | None
    eos: str
    pad: str | None = None
    extra: tuple[str, ...] = ()
    rstrip: tuple[str, ...] = ()
    lstrip: tuple[str, ...] = ()
    plain: tuple[str, ...] = ()
    tools: bool = False
    brackets: bool = False
    notes: str = ""
    verified: str = "assumed"

    def template_files(self) -> dict[str, Path]:
        names = self.templates if isinstance(self.templates, dict) else {"default": self.templates}
        return {k: TEMPLATE_DIR / f"{stem}.jinja" for k, stem in names.items()}

    def chat_template(self) -> str | dict[str, str]:
        """The template text, or a dict of named templates (as ``AutoTokenizer`` loads them)."""
        texts = {k: p.read_text(encoding="utf-8") for k, p in self.template_files().items()}
        return texts if isinstance(self.templates, dict) else texts["default"]

    def control_strings(self) -> list[str]:
        """Special strings in a fixed order: Qwen's three, first appearance in the template
        text(s), then ``extra``, then bos / eos / pad."""
        text = "\n".join(p.read_text(encoding="utf-8") for p in self.template_files().values())
        patterns = (*CONTROL_PATTERNS, _BRACKET) if self.brackets else CONTROL_PATTERNS
        found = sorted(((m.start(), m.group()) for pat in patterns for m in pat.finditer(text)), key=lambda p: p[0])
        out: list[str] = []
        for s in (*_QWEN_SPECIALS, *(s for _, s in found), *self.extra, self.bos, self.eos, self.pad):
            if s and s not in out and s not in self.plain:
                out.append(s)
        return out


_QWEN_TAGS = ("<think>", "</think>", "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>")
_MISTRAL = ("<s>", "</s>")
_DEEPSEEK = ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜end▁of▁sentence｜>")
_COHERE = ("<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>", "<PAD>")
# Phi-3 mini/medium/3.5: tokenizer.json publishes its chat tokens with rstrip=True (issue 18's
# reading; a printed LlamaTokenizerFast of Phi-3-mini-4k-instruct, built from tokenizer_config's
# added_tokens_decoder, shows rstrip=False for them, so the two published files disagree).
_PHI3_RSTRIP = ("<|endoftext|>", "<|assistant|>", "<|system|>", "<|end|>", "<|user|>")
_PHI3_NOTE_SRC = (
    "Phi-3 rstrip flags: issue 18 (tokenizer.json); not verified here — the added_tokens_decoder "
    "printed for microsoft/Phi-3-mini-4k-instruct in a public repo (index id 14656376472) says rstrip=False"
)

_FAMILIES = (
    Family(
        "mistral_v1",
        "mistral_v1",
        _LLAMA_CPP + "tests/test-chat-template.cpp, case 'mistralai/Mistral-7B-Instruct-v0.2 (NOTE: Old pre-v1 "
        "without a system prompt)' (the hub's one-line v1 template; mistralai/cookbook@542cf810 "
        "concept-deep-dive/tokenization/templates.md prints a spaced variant)",
        *_MISTRAL,
        brackets=True,
        notes="never reads add_generation_prompt; the answer follows ' [/INST]' directly (content + eos); a system message raises",
    ),
    Family(
        "mistral_v3",
        "mistral_v3",
        "mistralai/Mistral-7B-Instruct-v0.3 tokenizer_config.json chat_template (tool-use revision); text read "
        "from a public GitHub copy (find_string index id 23526556419, BAD_MISTRAL_CHAT_TEMPLATE; same text as "
        "id 27193305110)",
        *_MISTRAL,
        tools=True,
        brackets=True,
        notes="never reads add_generation_prompt; system goes into the LAST user turn; raises unless tool-call "
        "ids and tool_call_id are 9 characters; [AVAILABLE_TOOLS] only before the last user turn; tool calls "
        "end with eos, content answers with ' ' + content|trim + eos",
    ),
    Family(
        "mistral_v3_tekken",
        "mistral_v3_tekken",
        _LLAMA_CPP + "models/templates/mistralai-Mistral-Nemo-Instruct-2407.jinja",
        *_MISTRAL,
        tools=True,
        brackets=True,
        notes="as mistral_v3 without the spaces ('[INST]' + content + '[/INST]', answer + eos); 9-char ids or raise",
    ),
    Family(
        "mistral_v7_tekken",
        "mistral_v7_tekken",
        _LLAMA_CPP + "models/templates/Mistral-Small-3.2-24B-Instruct-2506.jinja",
        *_MISTRAL,
        tools=True,
        brackets=True,
        notes="[SYSTEM_PROMPT] blocks; tool calls as [TOOL_CALLS]name[ARGS]{json}; never reads add_generation_prompt",
    ),
    Family(
        "command_r",
        {"default": "command_r_default", "tool_use": "command_r_tool_use", "rag": "command_r_rag"},
        "default: " + _VLLM + "0b9005b87944cd887f922080f6a5e3768cce086a examples/command_r_default_chat_template.jinja; "
        "rag: " + _VLLM + "fc2132a413c86d5f6c0e541d3ca564f1fe7778c7 examples/command_r_rag_chat_template.jinja; "
        "tool_use: " + _LLAMA_CPP + "models/templates/CohereForAI-c4ai-command-r-plus-tool_use.jinja "
        "(CohereForAI/c4ai-command-r-plus named templates)",
        *_COHERE,
        tools=True,
        notes="named templates (dict); tool_use reads Cohere-shaped tools (name, description, "
        "parameter_definitions at the top level: OpenAI-shaped tools raise UndefinedError); a tool-call turn "
        "'Action:\\n```json [...]```\\n' is never closed by <|END_OF_TURN_TOKEN|>; tool_use writes actions as a JSON block after 'Action:' and always appends "
        "a long system instruction; rag needs `documents`; default raises unless user/assistant alternate",
    ),
    Family(
        "command_r7b",
        "command_r7b_tool_use",
        _LLAMA_CPP + "models/templates/CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja "
        "(the Command R7B / Command A format: <|START_RESPONSE|> ... <|END_RESPONSE|>)",
        *_COHERE,
        tools=True,
        notes="appends '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>' (plus an empty thinking block unless "
        "enable_thinking) after EVERY rendering, whatever add_generation_prompt says; answers are wrapped "
        "<|START_RESPONSE|>..<|END_RESPONSE|><|END_OF_TURN_TOKEN|>; tool calls render reasoning_content in "
        "<|START_THINKING|> and renumber tool_call_id from 0",
    ),
    Family(
        "deepseek_r1_tool",
        "deepseek_r1_tool",
        _VLLM + "2ae850303adf763b710b0df8cd50071797144cf7 examples/tool_chat_template_deepseekr1.jinja",
        *_DEEPSEEK,
        tools=True,
        notes="the answer's opener <｜Assistant｜> is rendered as part of every USER turn, so add_generation_prompt "
        "adds nothing after a user turn; arguments go through tojson (a string is quoted again); content before "
        "'</think>' is dropped from assistant turns",
    ),
    Family(
        "deepseek_v3_tool",
        "deepseek_v3_tool",
        _VLLM + "7531ada7db299214b688d5ea9a316572863edccf examples/tool_chat_template_deepseekv3.jinja",
        *_DEEPSEEK,
        tools=True,
        notes="as deepseek_r1_tool: <｜Assistant｜> closes every user turn; tools listed in the system prompt",
    ),
    Family(
        "deepseek_v3_1",
        "deepseek_v3_1",
        _LLAMA_CPP + "models/templates/deepseek-ai-DeepSeek-V3.1.jinja",
        *_DEEPSEEK,
        tools=True,
        plain=("<think>", "</think>"),
        notes="<｜Assistant｜> closes the user turn, then '<think></think>' (non-thinking) before each answer; "
        "arguments go through |tojson, so a JSON-string argument is quoted again (give dicts)",
    ),
    Family(
        "deepseek_r1_distill_llama",
        "deepseek_r1_distill_llama",
        _LLAMA_CPP + "models/templates/deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja",
        *_DEEPSEEK,
        plain=("<think>", "</think>"),
        notes="generation prompt '<｜Assistant｜><think>\\n'; content before '</think>' is dropped",
    ),
    Family(
        "deepseek_v2",
        "deepseek_v2",
        _LLAMA_CPP + "tests/test-chat-template.cpp, case 'DeepSeek-V2'",
        *_DEEPSEEK,
        notes="plain-text roles: 'User: Q\\n\\nAssistant: A<｜end▁of▁sentence｜>'; generation prompt 'Assistant:' "
        "(no trailing space, the answer starts with ' ')",
    ),
    Family(
        "hyperclovax_seed_think",
        "hyperclovax_seed_think",
        _VLLM + "9a525916e3dfc19c9b00febc373d0d0a556614f6 examples/tool_chat_template_hyperclovax_seed_think_14b.jinja "
        "(naver-hyperclovax/HyperCLOVAX-SEED-Think-14B)",
        None,
        "<|endofturn|>",
        pad="<|endoftext|>",
        extra=("<|endoftext|>",),
        tools=True,
        notes="always renders a tool_list turn and an empty system turn; reasoning_content of the turns after "
        "the last user turn is a separate '<|im_start|>assistant/think\\n..<|im_end|>' block; an answer block "
        "ends '<|im_end|><|endofturn|>', a tool-call block '<|im_end|><|stop|>' (eos assumed <|endofturn|>); "
        "generation prompt '<|im_start|>assistant' without the newline",
    ),
    Family(
        "hermes_2_pro",
        {"default": "hermes_2_pro_default", "tool_use": "hermes_2_pro_tool_use"},
        "tool_use: " + _LLAMA_CPP + "models/templates/NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja; "
        "default: NousResearch/Hermes-2-Pro-Llama-3-8B tokenizer_config.json, text as quoted for "
        "mlx-community/Hermes-2-Pro-Llama-3-8B-4bit in a public GitHub file (find_string index id 13382713699)",
        "<|begin_of_text|>",
        "<|im_end|>",
        pad="<|end_of_text|>",
        plain=_QWEN_TAGS,
        tools=True,
        notes="tool_use loops over `tools` unconditionally (cannot render without tools); tool calls as "
        "<tool_call>{json}</tool_call>, results as a 'tool' turn with <tool_response>",
    ),
    Family(
        "phi3_mini",
        "phi3_mini",
        _LLAMA_CPP + "tests/test-chat-template.cpp, case 'Phi-3-mini' (microsoft/Phi-3-mini-4k-instruct)",
        "<s>",
        "<|endoftext|>",
        pad="<|endoftext|>",
        rstrip=_PHI3_RSTRIP,
        notes="never reads add_generation_prompt: '<|assistant|>\\n' is appended to every user turn; no system "
        "turn (dropped); " + _PHI3_NOTE_SRC,
    ),
    Family(
        "phi3_medium",
        "phi3_medium",
        _LLAMA_CPP + "tests/test-chat-template.cpp, case 'Phi-3-medium' (microsoft/Phi-3-medium-4k-instruct)",
        None,
        "<|endoftext|>",
        pad="<|endoftext|>",
        rstrip=_PHI3_RSTRIP,
        notes="as phi3_mini without bos; " + _PHI3_NOTE_SRC,
    ),
    Family(
        "phi3_small",
        "phi3_small",
        _LLAMA_CPP + "tests/test-chat-template.cpp, case 'Phi-3-small' (microsoft/Phi-3-small-8k-instruct)",
        "<|endoftext|>",
        "<|endoftext|>",
        extra=("<|system|>", "<|user|>"),
        notes="'<|' + role + '|>' for every role; bos/eos assumed <|endoftext|> (its tiktoken tokenizer)",
    ),
    Family(
        "phi3_5_mini",
        "phi3_5_mini",
        _LLAMA_CPP + "models/templates/microsoft-Phi-3.5-mini-instruct.jinja",
        "<s>",
        "<|endoftext|>",
        pad="<|endoftext|>",
        rstrip=_PHI3_RSTRIP,
        notes="appends eos after the conversation when not prompting; " + _PHI3_NOTE_SRC,
    ),
    Family(
        "phi4",
        "phi4",
        _LLAMA_CPP + "tests/test-chat-template.cpp, case 'phi-4' (microsoft/phi-4)",
        "<|endoftext|>",
        "<|im_end|>",
        pad="<|dummy_87|>",
        notes="never reads add_generation_prompt: '<|im_start|>assistant<|im_sep|>' closes every user turn",
    ),
    Family(
        "granite_3_0",
        "granite_3_0",
        _LLAMA_CPP + "tests/test-chat-template.cpp, case 'ibm-granite/granite-3.0-8b-instruct'",
        "<|end_of_text|>",
        "<|end_of_text|>",
        pad="<|end_of_text|>",
        notes="lists tools but never renders assistant tool_calls (an empty turn); turns '<|start_of_role|>role<|end_of_role|>..<|end_of_text|>\\n'",
    ),
    Family(
        "granite_3_3",
        "granite_3_3",
        _LLAMA_CPP + "models/templates/ibm-granite-granite-3.3-2B-Instruct.jinja",
        "<|end_of_text|>",
        "<|end_of_text|>",
        pad="<|end_of_text|>",
        plain=("<think>", "</think>", "<response>", "</response>"),
        notes="lists tools but never renders assistant tool_calls (an empty turn); injects a dated default system prompt (strftime_now); tool calls as '<|tool_call|>' + JSON",
    ),
    Family(
        "granite_4_0",
        "granite_4_0",
        _LLAMA_CPP + "models/templates/ibm-granite-granite-4.0.jinja",
        "<|end_of_text|>",
        "<|end_of_text|>",
        pad="<|pad|>",
        plain=_QWEN_TAGS,
        tools=True,
        notes="Hermes-style <tool_call> JSON inside granite role markers",
    ),
    Family(
        "smollm3",
        "smollm3",
        _LLAMA_CPP + "models/templates/HuggingFaceTB-SmolLM3-3B.jinja (NOTE: the file says 'Edits made by "
        "Unsloth'; not the hub's original text)",
        None,
        "<|im_end|>",
        pad="<|im_end|>",
        plain=_QWEN_TAGS,
        notes="lists tools but never renders assistant tool_calls (an empty turn); ChatML with a metadata system block (knowledge cutoff, reasoning mode); /think and /no_think flags",
    ),
    Family(
        "nemotron_nano_v2",
        "nemotron_nano_v2",
        _LLAMA_CPP + "models/templates/NVIDIA-Nemotron-Nano-v2.jinja (nvidia/NVIDIA-Nemotron-Nano-9B-v2)",
        "<s>",
        "<SPECIAL_12>",
        extra=("<SPECIAL_10>", "<SPECIAL_11>", "<SPECIAL_12>"),
        plain=("<think>", "</think>", "<TOOLCALL>", "</TOOLCALL>", "<AVAILABLE_TOOLS>", "</AVAILABLE_TOOLS>",
               "<TOOL_RESPONSE>", "</TOOL_RESPONSE>"),
        tools=True,
        notes="generation prompt '<SPECIAL_11>Assistant\\n<think>\\n', but history answers render without "
        "<think> ('<SPECIAL_11>Assistant\\n' + content|strip + '\\n<SPECIAL_12>\\n'); tool calls as "
        "'<TOOLCALL>[{json}]</TOOLCALL>'; the last answer renders after the loop with the think opener; "
        "bos / eos and the tags' special flags assumed",
    ),
    Family(
        "kimi_k2_thinking",
        "kimi_k2_thinking",
        "github ggml-org/llama.cpp@0c3c896ea80643608b4e961eec7e1efcd844e109 "
        "models/templates/moonshotai-Kimi-K2-Thinking.jinja (the hub's text, which renders the call's id)",
        "[BOS]",
        "<|im_end|>",
        pad="[PAD]",
        plain=("<think>", "</think>"),
        tools=True,
        notes="a tool call renders as '<|tool_call_begin|>' + the call's id + '<|tool_call_argument_begin|>' + "
        "arguments: the function's name is only in the id (Kimi's own ids read 'functions.NAME:N'); history "
        "answers get an empty '<think></think>'; bos / eos / pad assumed",
    ),
    Family(
        "kimi_k3",
        "kimi_k3",
        _LLAMA_CPP + "models/templates/Kimi-K3.jinja",
        "[BOS]",
        "<|end_of_msg|>",
        pad="[PAD]",
        tools=True,
        notes="XML-like tags built from '<|open|>' / '<|sep|>' / '<|close|>'; generation prompt "
        "'<|open|>message role=\"assistant\"<|sep|><|open|>think<|sep|>'; messages end "
        "'<|close|>message<|sep|><|end_of_msg|>'; bos / eos / pad assumed",
    ),
    Family(
        "gigachat3",
        "gigachat3",
        _LLAMA_CPP + "models/templates/GigaChat3-10B-A1.8B.jinja (ai-sage/GigaChat3-10B-A1.8B)",
        "<s>",
        "</s>",
        tools=True,
        notes="plain-text roles: 'role<|role_sep|>\\n' + content + '<|message_sep|>\\n\\n'; generation prompt "
        "'assistant<|role_sep|>\\n'; a tool call is a 'function call' message of its own after the answer; "
        "bos / eos assumed",
    ),
)

FAMILIES: dict[str, Family] = {f.name: f for f in _FAMILIES}


def _family(name: str) -> Family:
    if name not in FAMILIES:
        raise SFTPrepError(f"template family {name!r} is unknown; pick one of: {', '.join(FAMILIES)}.")
    return FAMILIES[name]


def control_strings(name: str) -> list[str]:
    """The special strings of a family (see :meth:`Family.control_strings`).

    Example:
        >>> control_strings("mistral_v1")[3:]
        ['[INST]', '[/INST]', '<s>', '</s>']
    """
    return _family(name).control_strings()


def family_tokenizer(name: str, cache_dir: str | os.PathLike):
    """Qwen2.5's BPE with the family's special tokens (published rstrip / lstrip flags) and its template.

    The shared BPE is cached under ``cache_dir/qwen2_5_bpe`` (the zoo's file); the family's tokens are
    added in memory (~0.5 s).

    Example:
        >>> tok = family_tokenizer("phi3_mini", "/tmp/fam")
        >>> tok.backend_tokenizer.get_added_tokens_decoder()[tok.convert_tokens_to_ids("<|end|>")].rstrip
        True
    """
    from tokenizers import AddedToken
    from transformers import PreTrainedTokenizerFast

    fam = _family(name)
    tok = PreTrainedTokenizerFast(tokenizer_file=str(_base_bpe(cache_dir)))
    specials = [s for s in fam.control_strings() if s not in _QWEN_SPECIALS]
    tok.backend_tokenizer.add_special_tokens(
        [AddedToken(s, special=True, normalized=False, rstrip=s in fam.rstrip, lstrip=s in fam.lstrip) for s in specials]
    )
    # Qwen's own three keep their ids; re-adding one with new flags updates it in place.
    restyled = [s for s in _QWEN_SPECIALS if s in fam.rstrip or s in fam.lstrip]
    if restyled:
        tok.backend_tokenizer.add_special_tokens(
            [AddedToken(s, special=True, normalized=False, rstrip=s in fam.rstrip, lstrip=s in fam.lstrip) for s in restyled]
        )
    if fam.plain:
        tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in fam.plain])
    tok.bos_token, tok.eos_token, tok.pad_token = fam.bos, fam.eos, fam.pad
    tok.name_or_path = f"families/{name}"
    tok.chat_template = fam.chat_template()
    return tok


# kind -> (file in mistral_common/data, family whose published template it pairs with)
MISTRAL_KINDS: dict[str, tuple[str, str]] = {
    "v1": ("tokenizer.model.v1", "mistral_v1"),
    "v3": ("mistral_instruct_tokenizer_240323.model.v3", "mistral_v3"),
    "v3-tekken": ("tekken_240718.json", "mistral_v3_tekken"),
    "v7-tekken": ("tekken_240911.json", "mistral_v7_tekken"),
}


def _mistral_data() -> Path:
    """mistral-common's bundled tokenizer files, found without importing the package: it is installed with
    ``--no-deps`` (its numpy bound is older than the one the rest of the stack needs) and only its files are read."""
    import importlib.util

    spec = importlib.util.find_spec("mistral_common")
    if spec is None or spec.origin is None:
        raise SFTPrepError(
            "Mistral tokenizers need the files of mistral-common. Install them with: "
            "pip install --no-deps mistral-common==1.13.1 && pip install sentencepiece protobuf"
        )
    return Path(spec.origin).parent / "data"


def mistral_tokenizer(kind: str, cache_dir: str | os.PathLike):
    """A REAL Mistral tokenizer from the files ``mistral-common`` bundles, with the published template.

    SentencePiece kinds load through ``LlamaTokenizer.from_pretrained(DIR)`` with the model saved as
    ``DIR/tokenizer.model`` (``LlamaTokenizerFast(vocab_file=...)`` silently builds a 3-token
    vocabulary). Tekken kinds go through transformers' ``MistralConverter`` (~5-9 s each), saved once
    under ``cache_dir`` and reloaded from there.

    Example:
        >>> tok = mistral_tokenizer("v3", "/tmp/fam")
        >>> len(tok), tok.convert_tokens_to_ids(["[INST]", "[/INST]", "[TOOL_CALLS]"])
        (32768, [3, 4, 5])
    """
    if kind not in MISTRAL_KINDS:
        raise SFTPrepError(f"Mistral tokenizer kind {kind!r} is unknown; pick one of: {', '.join(MISTRAL_KINDS)}.")
    file, family = MISTRAL_KINDS[kind]
    out = Path(cache_dir) / f"mistral_{kind}"
    if kind.endswith("tekken"):
        tok = _tekken_tokenizer(_mistral_data() / file, out)
    else:
        from transformers import LlamaTokenizer

        out.mkdir(parents=True, exist_ok=True)
        if not (out / "tokenizer.model").exists():
            shutil.copy(_mistral_data() / file, out / "tokenizer.model")
        tok = LlamaTokenizer.from_pretrained(out)
    if len(tok) < 32000:
        raise SFTPrepError(f"Mistral {kind} tokenizer has {len(tok)} tokens; expected >= 32000 (a mis-loaded vocabulary).")
    tok.name_or_path = f"mistral/{kind}"
    tok.chat_template = FAMILIES[family].chat_template()
    return tok


def _tekken_tokenizer(tekken: Path, out: Path):
    from transformers import PreTrainedTokenizerFast

    path = out / "tokenizer.json"
    if not path.exists():
        from transformers.integrations.mistral.tokenizer import MistralConverter

        backend = MistralConverter(str(tekken)).converted()
        out.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        backend.save(str(tmp))
        tmp.replace(path)
    return PreTrainedTokenizerFast(tokenizer_file=str(path), bos_token="<s>", eos_token="</s>", unk_token="<unk>")


__all__ = ["FAMILIES", "Family", "MISTRAL_KINDS", "control_strings", "family_tokenizer", "mistral_tokenizer"]
