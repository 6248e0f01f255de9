"""Probe a tokenizer's chat template: where assistant turns open, what closes them, what it renders.

Nothing is hard-coded per model. A handful of tiny conversations with unique probe strings are
rendered (last turn, history turn, reasoning, tool call, tool result) and compared:

* the prompt is what ``add_generation_prompt=True`` appends to a one-user-turn conversation;
* a turn opens with the longest part of the prompt it renders (history turns of Qwen3.5 or DeepSeek-R1
  lack the prompt's ``<think>`` opening), so the marker is the shortest opening seen;
* the terminals are the special tokens after the answer that the next message's header does not own:
  the last special token of the text common to "answer then end of conversation" and "answer then next
  message" (cohere2's ``<|END_RESPONSE|><|END_OF_TURN_TOKEN|>``), or the first special token before the
  next message when they share nothing (gpt-oss's ``<|end|>`` vs ``<|return|>``, GLM's next role marker).
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace

from ..errors import RowError, TemplateError
from ..tokens.exact import common_prefix_len, turn_char_spans
from .render import Renderer, render, special_pattern, special_strings
from .spec import TemplateSpec

logger = logging.getLogger("hf_sftprep")
_warned: set[tuple] = set()

_Q1, _A1, _Q2, _A2 = "Probe question one", "Probe answer one", "Probe question two", "Probe answer two"
_REASON, _PRE = "Probe reasoning", "Probe preface"
_TOOL, _ARG, _RESULT = "probe_tool", "ProbeCity", "Probe result"
_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": _TOOL,
            "description": "Probe tool",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
_CALL = {"id": "call_probe", "type": "function", "function": {"name": _TOOL, "arguments": {"city": _ARG}}}


def _user(text: str) -> dict:
    return {"role": "user", "content": text}


def _assistant(text: str, **extra) -> dict:
    return {"role": "assistant", "content": text, **extra}


class _Specials:
    """Special-token positions in probe texts."""

    def __init__(self, tokenizer):
        self.pattern = special_pattern(tokenizer)

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        if self.pattern is None:
            return []
        return [(m.start(), m.end(), m.group()) for m in self.pattern.finditer(text)]

    def back_off(self, text: str, pos: int) -> int:
        """Move ``pos`` back to the start of a special token that straddles it."""
        for a, b, _ in self.spans(text):
            if a < pos < b:
                return a
        return pos

    def through_last(self, text: str) -> str:
        """``text`` up to the end of its last special token ("" when it has none)."""
        spans = self.spans(text)
        return text[: spans[-1][1]] if spans else ""

    def last(self, text: str) -> str | None:
        spans = self.spans(text)
        return spans[-1][2] if spans else None


def _try(fn, *args, **kwargs) -> str | None:
    try:
        return fn(*args, **kwargs)
    except Exception:  # the template refuses this probe shape (no tools, strict alternation, ...)
        return None


def _probe_prompt(tokenizer, sp: _Specials) -> str:
    one = [_user(_Q1)]
    plain, with_prompt = render(tokenizer, one), render(tokenizer, one, add_generation_prompt=True)
    cut = sp.back_off(with_prompt, common_prefix_len(plain, with_prompt))
    prompt = with_prompt[cut:]
    if not prompt:
        raise TemplateError(
            "the chat template adds no assistant header with add_generation_prompt=True "
            f"(rendered {plain[-60:]!r} either way), so assistant turns cannot be located. "
            "Pass the text that precedes every answer, e.g. assistant_header='[/INST]'."
        )
    return prompt


def _role_marker(prompt: str, sp: _Specials) -> str:
    """The prompt's leading special tokens plus the role word after them: ``<|im_start|>assistant``."""
    pos = 0
    for a, b, _ in sp.spans(prompt):
        if a != pos:
            break
        pos = b
    while pos < len(prompt) and not prompt[pos].isspace() and not any(a == pos for a, _, _ in sp.spans(prompt)):
        pos += 1
    return prompt[:pos] if pos else prompt


class _Probe:
    """The probe renderings of one template and what they show."""

    def __init__(self, tokenizer, prompt: str, sp: _Specials):
        self.tokenizer, self.prompt, self.sp = tokenizer, prompt, sp
        lead = sp.spans(prompt)
        self.lead = lead[0][2] if lead and lead[0][0] == 0 else prompt
        rend = Renderer(tokenizer)
        reason = {"reasoning_content": _REASON, "thinking": _REASON}
        call = {"tool_calls": [_CALL]}
        tool_msg = {"role": "tool", "content": _RESULT, "tool_call_id": "call_probe", "name": _TOOL}
        self.plain_last = _try(rend, [_user(_Q1), _assistant(_A1)])
        self.plain_hist = _try(rend, [_user(_Q1), _assistant(_A1), _user(_Q2), _assistant(_A2)])
        self.reason_last = _try(rend, [_user(_Q1), _assistant(_A1, **reason)])
        # a tool-call message's content: "" for templates that concatenate it (gpt-oss), None for those
        # that render the calls only when it is null (DeepSeek)
        # arguments: a dict for most templates, a JSON string for those that concatenate it (DeepSeek)
        as_text = {"tool_calls": [{**_CALL, "function": {**_CALL["function"], "arguments": json.dumps({"city": _ARG})}}]}
        for empty, calls in (("", call), (None, call), ("", as_text), (None, as_text)):
            self.tool_last = _try(rend, [_user(_Q1), _assistant(empty, **calls)], tools=_TOOLS)
            self.tool_hist = _try(
                rend, [_user(_Q1), _assistant(empty, **calls), tool_msg, _assistant(_A2)], tools=_TOOLS
            )
            self.tool_content, self.text_arguments = empty, calls is as_text
            if self.tool_last is not None and _TOOL in self.tool_last[self.tool_last.find(_Q1) + len(_Q1) :]:
                break
            self.tool_last = self.tool_hist = None  # the template ignores tool_calls
        # content beside the calls (Gemma 4 renders it after the tool results, outside the call's turn)
        self.tool_hist_text = None
        if self.tool_last is not None:
            calls = as_text if self.text_arguments else call
            self.tool_hist_text = _try(
                rend, [_user(_Q1), _assistant(_PRE, **calls), tool_msg, _assistant(_A2)], tools=_TOOLS
            )

    def opener(self, text: str, anchor: int) -> int:
        """Length of the part of the prompt that opens the turn holding position ``anchor``."""
        start = text.rfind(self.lead, 0, anchor)
        return common_prefix_len(text[start:anchor], self.prompt) if start >= 0 else 0

    def samples(self):
        """(text, anchor start, anchor end, next content or None) for each rendered probe turn."""
        for text, anchor, nxt in (
            (self.plain_last, _A1, None),
            (self.plain_hist, _A1, _Q2),
            (self.reason_last, _A1, None),
            (self.tool_last, _ARG, None),
            (self.tool_hist, _ARG, _RESULT),
        ):
            if text is None or anchor not in text:
                continue
            start = text.find(anchor, text.find(_Q1) + len(_Q1))
            if start < 0:
                continue
            yield text, start, start + len(anchor), nxt


def _closers(probe: _Probe) -> tuple[set[str], str, bool]:
    """Terminals, trailer and open_end from the probe renderings."""
    sp = probe.sp
    lasts, hists = {}, []
    for text, _, end, nxt in probe.samples():
        if nxt is None:
            lasts.setdefault(text is probe.tool_last, sp.through_last(text[end:]))
        else:
            hists.append((text is probe.tool_hist, text[end : text.find(nxt, end)]))
    terminals: set[str] = set()
    for is_tool, between in hists:
        common = between[: sp.back_off(between, common_prefix_len(between, lasts.get(is_tool, "")))]
        found = sp.last(common)
        if found is None:  # nothing shared with the last-turn ending: the first special token closes
            spans = sp.spans(between)
            found = spans[0][2] if spans else None
        if found is not None:
            terminals.add(found)
    trailer, open_end = "", False
    for is_tool, ending in lasts.items():
        if not ending:
            open_end = True
            continue
        hits = [(a, b, s) for a, b, s in sp.spans(ending) if s in terminals]
        if hits and not is_tool:
            trailer = ending[hits[0][1] :]
        elif not hits:
            terminals.add(sp.last(ending))
    return terminals, trailer, open_end


def _block_terminals(probe: _Probe, marker: str) -> set[str]:
    """The special token that closes a reasoning block followed by another block of the same message
    (muse_glimmer's ``<|eom|>`` before ``<|start|>assistant to=user``)."""
    text = probe.reason_last
    at = text.find(_REASON, text.find(_Q1) + len(_Q1))
    nxt = text.find(marker, at) if at >= 0 else -1
    found = probe.sp.last(text[at + len(_REASON) : nxt]) if nxt >= 0 else None
    return {found} if found else set()


def _encode(tokenizer, text: str) -> tuple[int, ...]:
    return tuple(tokenizer(text, add_special_tokens=False)["input_ids"])


def probe_template(tokenizer, assistant_header: str | None = None, end_of_turn: str | None = None) -> TemplateSpec:
    """Learn how the tokenizer's chat template renders assistant turns.

    Example (SmolLM2-Instruct's ChatML template):
        >>> spec = probe_template(tok)
        >>> spec.prompt, spec.terminals, spec.prompt_ids, spec.terminal_ids
        ('<|im_start|>assistant\\n', ('<|im_end|>',), (1, 520, 9531, 198), ((2,),))
    """
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        raise TemplateError(
            "the tokenizer has no chat_template. Set tokenizer.chat_template, pass chat_template=..., "
            "or use alpaca_prompt='stanford' for Alpaca records."
        )
    if isinstance(template, dict):
        template = template.get("default") or next(iter(template.values()))
    sp = _Specials(tokenizer)
    try:
        prompt = assistant_header if assistant_header is not None else _probe_prompt(tokenizer, sp)
    except RowError as err:
        raise TemplateError(f"the chat template cannot render a one-user-turn conversation: {err.detail}") from err
    if not prompt or (end_of_turn is not None and not end_of_turn):
        raise TemplateError("assistant_header and end_of_turn must be non-empty strings.")
    probe = _Probe(tokenizer, prompt, sp)
    openers = [probe.opener(text, start) for text, start, _, _ in probe.samples()]
    openers = [k for k in openers if k > 0]
    if not openers:
        raise TemplateError(
            f"the chat template does not render an answer after its generation prompt {prompt!r} "
            f"(rendered {probe.plain_last!r}). Pass assistant_header=... and end_of_turn=... explicitly."
        )
    marker = prompt if assistant_header is not None else prompt[: min(min(openers), len(_role_marker(prompt, sp)))]
    if end_of_turn is not None:
        terminals, trailer, open_end = {end_of_turn}, "", False
    else:
        terminals, trailer, open_end = _closers(probe)
    if not terminals and not open_end:
        raise TemplateError(
            f"no special token closes an assistant turn (rendered {probe.plain_last!r}). "
            "Pass the end-of-turn text explicitly, e.g. end_of_turn='</s>'."
        )
    multi = probe.reason_last is not None and probe.reason_last.count(marker, probe.reason_last.find(_Q1)) > 1
    if multi and end_of_turn is None:
        terminals |= _block_terminals(probe, marker)
    ordered = tuple(sorted(terminals, key=lambda t: (probe.plain_hist or "").find(t) if t in (probe.plain_hist or "") else 10**9))
    spec = TemplateSpec(
        prompt=prompt,
        marker=marker,
        terminals=ordered,
        trailer=trailer,
        open_end=open_end,
        multi_block=multi,
        keeps_developer="developer" in template,
        renders_tool_calls=probe.tool_last is not None,
        null_tool_content=probe.tool_last is not None and probe.tool_content is None,
        text_arguments=probe.tool_last is not None and probe.text_arguments,
        shortest_opening=prompt[: min(openers)] if assistant_header is None else prompt,
    )
    spec = replace(spec, tool_rounds=spec.renders_tool_calls and _self_check(spec, probe, tools=True))
    if not _self_check(spec, probe, tools=False):
        raise TemplateError(
            f"the probed template structure ({spec.describe()}) does not locate the answers of its own probe "
            f"conversations (rendered {probe.plain_hist!r}). Pass assistant_header=... and end_of_turn=... explicitly."
        )
    return _with_ids(tokenizer, spec, probe)


def _self_check(spec: TemplateSpec, probe: _Probe, tools: bool) -> bool:
    """Parse the probe renderings with the learned structure: every turn found, each answer inside its
    trained span, no user or tool text inside one."""
    cases = [(probe.tool_hist, [_ARG, _A2], [_Q1, _RESULT]), (probe.tool_hist_text, [_PRE, _A2], [_Q1, _RESULT])] if tools else [
        (probe.plain_last, [_A1], [_Q1]),
        (probe.plain_hist, [_A1, _A2], [_Q1, _Q2]),
    ]
    for text, answers, given in cases:
        if text is None:
            return False
        try:
            spans = turn_char_spans(None, text, spec, len(answers))
        except RowError:
            return False
        for (a, b), answer in zip(spans, answers):
            # a preface the template leaves out is its choice; one rendered outside its turn is misplaced
            if answer not in text[a:b] and (answer != _PRE or answer in text):
                return False
        if any(g in text[a:b] for a, b in spans for g in given):
            return False
    return True


def _with_ids(tokenizer, spec: TemplateSpec, probe: _Probe) -> TemplateSpec:
    """Add token ids and decide whether the vectorized token search can find this template's turns."""
    special_ids = set(tokenizer.all_special_ids) | {i for i, t in tokenizer.added_tokens_decoder.items() if t.special}
    prompt_ids, marker_ids = _encode(tokenizer, spec.prompt), _encode(tokenizer, spec.marker)
    terminal_ids = tuple(_encode(tokenizer, t) for t in spec.terminals)
    ok = (
        bool(marker_ids)
        and marker_ids[0] in special_ids
        and prompt_ids[: len(marker_ids)] == marker_ids
        and all(len(t) == 1 and t[0] in special_ids for t in terminal_ids)
    )
    if ok and probe.plain_hist is not None:
        # the marker must tokenize the same way inside a real rendering
        ids = _encode(tokenizer, probe.plain_hist)
        k = len(marker_ids)
        ok = sum(ids[i : i + k] == marker_ids for i in range(len(ids) - k + 1)) >= 2
    return replace(
        spec,
        prompt_ids=prompt_ids,
        marker_ids=marker_ids,
        terminal_ids=terminal_ids,
        trailer_ids=_encode(tokenizer, spec.trailer) if spec.trailer else (),
        token_search=ok,
    )
def warn_if_eot_not_eos(tokenizer, spec: TemplateSpec) -> None:
    """Warn once when no trained closing token is what generation stops on.

    The model learns to emit a terminal (or the trailer, Phi-3's EOS) after each answer; if generation
    stops only on ``eos_token_id`` and that is none of them, it runs past the answer (the TRL GLM-4 /
    Falcon-Mamba bug class).
    """
    closing = {t[-1] for t in spec.terminal_ids if t} | set(spec.trailer_ids[-1:])
    if not closing:
        return
    gen = getattr(tokenizer, "generation_config", None)
    stop = getattr(gen, "eos_token_id", None)
    stops = set(stop if isinstance(stop, list) else [stop]) | {tokenizer.eos_token_id}
    key = (tokenizer.name_or_path, tuple(sorted(closing)), tokenizer.eos_token_id)
    if closing & stops or key in _warned:
        return
    _warned.add(key)
    logger.warning(
        "the template's end-of-turn token(s) %s are trained, but none is the tokenizer's EOS %r (id %s). "
        "Add them to the model's generation_config.eos_token_id, or generation will not stop after an answer.",
        " / ".join(repr(t) for t in spec.terminals), tokenizer.eos_token, tokenizer.eos_token_id,
    )
