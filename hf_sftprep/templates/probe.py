"""Probe a tokenizer's chat template for the assistant header and end-of-turn sequences.

Nothing is hard-coded per model: the header is what ``add_generation_prompt=True``
appends to a one-user-turn conversation, and the end-of-turn is the text after an
assistant answer up to and including the first special token.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from ..errors import RowError, TemplateError

logger = logging.getLogger("hf_sftprep")
_warned: set[tuple] = set()

_PROBE_USER = "Probe question"
_PROBE_ANSWER = "Probe answer"


@dataclass(frozen=True)
class TemplateSpec:
    """What an assistant turn looks like for one tokenizer + template.

    Attributes:
        header_text: text that opens an assistant turn, e.g. ``"<|im_start|>assistant\\n"``.
        end_text: text that closes it and is trained, e.g. ``"<|im_end|>"``.
        header_ids: ``header_text`` tokenized in context.
        end_ids: ``end_text`` tokenized in context.
        token_search: whether header and end start with special tokens, so that a
            token-level match pins the exact character position and cannot occur
            inside content (given the special-token policy). Otherwise every row
            takes the exact character path.
    """

    header_text: str
    end_text: str
    header_ids: tuple[int, ...]
    end_ids: tuple[int, ...]
    token_search: bool


def special_strings(tokenizer) -> list[str]:
    """Every special added token's text (``<|im_start|>``, ``<|eot_id|>``, ...), longest first."""
    found = {tok.content for tok in tokenizer.added_tokens_decoder.values() if tok.special}
    found.update(s for s in tokenizer.all_special_tokens if s)
    return sorted(found, key=lambda s: (-len(s), s))


def special_pattern(tokenizer) -> re.Pattern | None:
    """A regex matching any special token's text, or None if the tokenizer has none."""
    strings = special_strings(tokenizer)
    return re.compile("|".join(re.escape(s) for s in strings)) if strings else None


def render(tokenizer, messages: list[dict], add_generation_prompt: bool = False, row: int | None = None) -> str:
    """Render one conversation to text; a template error becomes a RowError naming the row."""
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    except Exception as err:  # jinja2 TemplateError, raise_exception(), KeyError inside templates, ...
        roles = [m.get("role") for m in messages]
        raise RowError(
            row,
            "template_error",
            f"the chat template refused field 'messages' with roles {roles}: {type(err).__name__}: {err}. "
            "Reorder the turns as the template requires (often system?, then user/assistant alternating), "
            "or drop such rows with on_invalid='drop'.",
        ) from err


class Renderer:
    """Renders validated ``{role, content}`` conversations with the compiled template, skipping
    ``apply_chat_template``'s per-call input conversion (the messages are already plain str dicts).

    Output is identical to ``apply_chat_template(messages, tokenize=False)`` (tests compare ids row by
    row); on any template error it defers to :func:`render` for the standard row error.
    """

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self._compiled = None
        try:
            from transformers.utils.chat_template_utils import _compile_jinja_template

            self._compiled = _compile_jinja_template(tokenizer.get_chat_template())
            self._kwargs = dict(tokenizer.special_tokens_map)
        except Exception:  # older/newer transformers without this helper: use the public API
            self._compiled = None

    def __call__(self, messages: list[dict], add_generation_prompt: bool = False, row: int | None = None) -> str:
        if self._compiled is not None:
            try:
                return self._compiled.render(
                    messages=messages, tools=None, documents=None, add_generation_prompt=add_generation_prompt, **self._kwargs
                )
            except Exception:
                pass
        return render(self.tokenizer, messages, add_generation_prompt, row)


def _encode(tokenizer, text: str) -> tuple[int, ...]:
    return tuple(tokenizer(text, add_special_tokens=False)["input_ids"])


def _probe_header(tokenizer) -> str:
    user = [{"role": "user", "content": _PROBE_USER}]
    plain = render(tokenizer, user)
    with_prompt = render(tokenizer, user, add_generation_prompt=True)
    if not with_prompt.startswith(plain) or with_prompt == plain:
        raise TemplateError(
            "the chat template adds no assistant header with add_generation_prompt=True "
            f"(rendered {plain[-60:]!r} either way), so assistant turns cannot be located. "
            "Pass the text that precedes every answer, e.g. assistant_header='[/INST]'."
        )
    return with_prompt[len(plain) :]


def _probe_end(tokenizer, header_text: str, specials: list[str]) -> str:
    convo = [{"role": "user", "content": _PROBE_USER}, {"role": "assistant", "content": _PROBE_ANSWER}]
    full = render(tokenizer, convo)
    at = full.find(header_text + _PROBE_ANSWER)
    if at < 0:
        raise TemplateError(
            f"the chat template does not render an answer right after its header {header_text!r} "
            f"(rendered {full!r}). Pass assistant_header=... and end_of_turn=... explicitly."
        )
    tail = full[at + len(header_text) + len(_PROBE_ANSWER) :]
    hits = [(tail.find(s), s) for s in specials if s in tail]
    if not hits:
        raise TemplateError(
            f"no special token closes an assistant turn (text after the answer: {tail!r}). "
            "Pass the end-of-turn text explicitly, e.g. end_of_turn='</s>'."
        )
    pos, s = min(hits)
    return tail[: pos + len(s)]


def _occurrences(ids: tuple[int, ...], pattern: tuple[int, ...]) -> list[int]:
    k = len(pattern)
    return [i for i in range(len(ids) - k + 1) if ids[i : i + k] == pattern]


def probe_template(tokenizer, assistant_header: str | None = None, end_of_turn: str | None = None) -> TemplateSpec:
    """Derive the assistant header / end-of-turn sequences from the tokenizer's chat template.

    Example (SmolLM2-Instruct's ChatML template):
        >>> spec = probe_template(tok)
        >>> spec.header_text, spec.end_text, spec.header_ids, spec.end_ids
        ('<|im_start|>assistant\\n', '<|im_end|>', (1, 520, 9531, 198), (2,))
    """
    if not getattr(tokenizer, "chat_template", None):
        raise TemplateError(
            "the tokenizer has no chat_template. Set tokenizer.chat_template, pass chat_template=..., "
            "or use alpaca_prompt='stanford' for Alpaca records."
        )
    specials = special_strings(tokenizer)
    header_text = assistant_header if assistant_header is not None else _probe_header(tokenizer)
    end_text = end_of_turn if end_of_turn is not None else _probe_end(tokenizer, header_text, specials)
    if not header_text or not end_text:
        raise TemplateError("assistant_header and end_of_turn must be non-empty strings.")
    header_ids, end_ids = _encode(tokenizer, header_text), _encode(tokenizer, end_text)
    special_ids = set(tokenizer.all_special_ids) | {
        i for i, t in tokenizer.added_tokens_decoder.items() if t.special
    }
    token_search = header_ids[0] in special_ids and end_ids[0] in special_ids
    if token_search:
        # The header must also tokenize the same way inside a real rendering.
        convo = [{"role": "user", "content": _PROBE_USER}, {"role": "assistant", "content": _PROBE_ANSWER}]
        ids = _encode(tokenizer, render(tokenizer, convo))
        token_search = len(_occurrences(ids, header_ids)) == 1 and len(_occurrences(ids, end_ids)) >= 1
    return TemplateSpec(header_text, end_text, header_ids, end_ids, token_search)


def warn_if_eot_not_eos(tokenizer, spec: TemplateSpec) -> None:
    """Warn once when the trained end-of-turn token is not what generation stops on.

    The model learns to emit ``spec.end_ids`` after each answer; if generation stops only
    on ``eos_token_id`` it will run past the answer (the TRL GLM-4 / Falcon-Mamba bug class).
    """
    eot = spec.end_ids[-1]
    gen = getattr(tokenizer, "generation_config", None)
    stop = getattr(gen, "eos_token_id", None)
    stops = set(stop if isinstance(stop, list) else [stop]) | {tokenizer.eos_token_id}
    key = (tokenizer.name_or_path, eot, tokenizer.eos_token_id)
    if eot in stops or key in _warned:
        return
    _warned.add(key)
    logger.warning(
        "the template's end-of-turn token %r (id %d) is trained, but it is not the tokenizer's EOS %r (id %s). "
        "Add it to the model's generation_config.eos_token_id, or generation will not stop after an answer.",
        spec.end_text, eot, tokenizer.eos_token, tokenizer.eos_token_id,
    )
