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
from .spans import common_prefix_len, turn_char_spans
from .reference import conversation_openers
from .render import Renderer, quiet_renderer, render, special_pattern, special_strings
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
_CALL = {"id": "probecall", "type": "function", "function": {"name": _TOOL, "arguments": {"city": _ARG}}}


def _renders_call(text: str) -> bool:
    """Whether ``text`` shows the probe call through any of its fields: its name, its argument, or its id
    (Kimi K2 renders the id, which carries the name in its own ids, ``functions.get_weather:0``)."""
    return any(s in text for s in (_TOOL, _ARG, _CALL["id"]))


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


def _probe_prompt(tokenizer, sp: _Specials, tools=None) -> str:
    """What ``add_generation_prompt=True`` appends; where it appends nothing (the template never reads
    the flag, or renders the opener with the user's turn), the opener learned from the renderings."""
    one = [_user(_Q1)]
    plain = render(tokenizer, one, tools=tools)
    with_prompt = render(tokenizer, one, add_generation_prompt=True, tools=tools)
    cut = sp.back_off(with_prompt, common_prefix_len(plain, with_prompt))
    prompt = with_prompt[cut:]
    if prompt:
        return prompt
    learned = _learned_opener(tokenizer, sp, with_prompt, tools)
    if learned is not None:  # the prompt is what the prompted rendering holds from the opener on
        q_end = with_prompt.find(_Q1) + len(_Q1)
        at = with_prompt.find(learned, q_end)
        learned = with_prompt[at:] if at >= 0 else learned
    if learned is None:
        raise TemplateError(
            "the chat template adds no assistant header with add_generation_prompt=True "
            f"(rendered {plain[-60:]!r} either way), and no special token in its renderings opens exactly the "
            "assistant turns, so they cannot be located. Pass the text that precedes every answer, e.g. "
            "assistant_header='[/INST]'."
        )
    return learned


def _learned_opener(tokenizer, sp: _Specials, with_prompt: str, tools) -> str | None:
    """The shortest text between the question and the answer that begins at a special token and occurs
    once before each answer, and nowhere else but in what the template appends to every rendering
    (Mistral's ``[/INST]``, DeepSeek's ``<｜Assistant｜>`` after the user turn, Command A's turn opener)."""
    rend = Renderer(tokenizer)
    last = _try(rend, [_user(_Q1), _assistant(_A1)], tools=tools)
    hist = _try(rend, [_user(_Q1), _assistant(_A1), _user(_Q2), _assistant(_A2)], tools=tools)
    if last is None or hist is None or _A1 not in last:
        return None
    q_end, a_start = last.find(_Q1) + len(_Q1), last.find(_A1)
    # the model starts generating where the prompted rendering stops agreeing with the answered one
    start = sp.back_off(last, q_end + min(common_prefix_len(last, with_prompt[q_end:], q_end), a_start - q_end))
    gap = last[q_end:start]
    tail = _common_suffix(with_prompt, last, hist)
    # special-led suffixes, shortest first; then the whole gap (a plain-text opener: '[/INST]' as text)
    starts = [a for a, _, _ in reversed(sp.spans(gap))] + [len(gap) - len(gap.lstrip())]
    for a in starts:
        candidate = gap[a:]
        stripped = hist[: len(hist) - len(_appended(tail, candidate, sp))]
        if candidate.strip() and _opens_each_answer(stripped, candidate):
            return candidate
    return None


def _opens_each_answer(text: str, opener: str) -> bool:
    """``opener`` occurs exactly once between each question and its answer, and nowhere else."""
    found, at = [], text.find(opener)
    while at >= 0:
        found.append(at)
        at = text.find(opener, at + 1)
    q1, a1, q2, a2 = (text.find(x) for x in (_Q1, _A1, _Q2, _A2))
    return len(found) == 2 and min(q1, a1, q2, a2) >= 0 and q1 < found[0] < a1 < q2 < found[1] < a2


def _common_suffix(*texts: str) -> str:
    k = 0
    while all(len(t) > k for t in texts) and len({t[len(t) - 1 - k] for t in texts}) == 1:
        k += 1
    return texts[0][len(texts[0]) - k :] if k else ""


def _appended(tail: str, opener: str, sp: _Specials, openers: set[str] = frozenset()) -> str:
    """The part of the text every rendering ends with that opens a next assistant turn (Command A appends
    ``<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>`` whatever add_generation_prompt says): from the first
    turn-opening token or opener in it. "" when the common ending is only a closing (``<|im_end|>\n``)."""
    at = [p for p in (tail.find(opener) if opener else -1,) if p >= 0]
    at += [a for a, _, s in sp.spans(tail) if s in openers]
    return tail[min(at) :] if at else ""


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


def _marker(probe: "_Probe", shortest: str) -> str:
    """The text every assistant turn begins with: the prompt's leading special tokens and role word
    (``<|im_start|>assistant``), cut to the shortest opening seen. Where that text occurs in the probe
    renderings more often than assistant turns do (GigaChat 3's system text names the role 'assistant';
    Kimi K3 writes ``<|open|>message`` for every role), it is extended at the opening's special-token ends,
    and then to the whole opening, until it occurs once per turn."""
    sp = probe.sp
    role = shortest[: len(_role_marker(shortest, sp))]
    candidates = [role] + [shortest[:b] for _, b, _ in sp.spans(shortest) if b > len(role)] + [shortest]
    for marker in candidates:
        if _once_per_turn(probe, marker):
            return marker
    return role


def _once_per_turn(probe: "_Probe", marker: str) -> bool:
    """``marker`` occurs exactly once per assistant turn of the plain probe renderings."""
    return all(text is None or text.count(marker) == n for text, n in ((probe.plain_last, 1), (probe.plain_hist, 2)))


class _Probe:
    """The probe renderings of one template and what they show."""

    def __init__(self, tokenizer, prompt: str, sp: _Specials, appended: str = "", tools=None):
        self.tokenizer, self.prompt, self.sp = tokenizer, prompt, sp
        lead = sp.spans(prompt)
        self.lead = lead[0][2] if lead and lead[0][0] == 0 else prompt
        renderer = Renderer(tokenizer)

        def rend(messages, tools=tools):
            # what the template appends to every rendering is no part of any turn: analysed without it
            text = renderer(messages, tools=tools)
            return text[: len(text) - len(appended)] if appended and text.endswith(appended) else text
        reason = {"reasoning_content": _REASON, "thinking": _REASON}
        call = {"tool_calls": [_CALL]}
        tool_msg = {"role": "tool", "content": _RESULT, "tool_call_id": "probecall", "name": _TOOL}
        self.full_last = _try(renderer, [_user(_Q1), _assistant(_A1)], tools=tools)
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
            if self.tool_last is not None and _renders_call(self.tool_last[self.tool_last.find(_Q1) + len(_Q1) :]):
                break
            self.tool_last = self.tool_hist = None  # the template ignores tool_calls
        # content beside the calls (Gemma 4 renders it after the tool results, outside the call's turn)
        self.tool_hist_text = None
        if self.tool_last is not None:
            calls = as_text if self.text_arguments else call
            self.tool_hist_text = _try(
                rend, [_user(_Q1), _assistant(_PRE, **calls), tool_msg, _assistant(_A2)], tools=_TOOLS
            )

    def turn_start(self, text: str, anchor: int) -> int:
        """Where the turn holding ``anchor`` opens: of the prompt's leading token's occurrences between the
        question and ``anchor``, the one that begins the longest part of the prompt (the last of those). A
        leading token may open more than turns: Kimi K3 opens every tag with ``<|open|>``, the answer's own
        ``<|open|>response<|sep|>`` too."""
        q = text.rfind(_Q1, 0, anchor)
        lo = q + len(_Q1) if q >= 0 else 0
        best, best_k = -1, -1
        at = text.find(self.lead, lo, anchor)
        while at >= 0:
            k = common_prefix_len(text[at:anchor], self.prompt)
            if k >= best_k:
                best, best_k = at, k
            at = text.find(self.lead, at + 1, anchor)
        return best if best >= 0 else text.rfind(self.lead, 0, anchor)

    def opener(self, text: str, anchor: int) -> int:
        """Length of the part of the prompt that opens the turn holding position ``anchor``."""
        start = self.turn_start(text, anchor)
        if start < 0:
            return 0
        k = self.sp.back_off(self.prompt, common_prefix_len(text[start:anchor], self.prompt))
        # nor inside a special token of the text: '<' of '<｜tool▁calls▁begin｜>' continuing '<think>' opens nothing
        return self.sp.back_off(text, start + k) - start

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


def _openings(probe: _Probe) -> list[int]:
    """The prompt lengths probe turns open with. An opening never ends inside text the answer itself begins
    with: a text answer's turn is measured up to the answer, but a call turn's answer is the call syntax,
    which may begin with the prompt's next characters (Nemotron Nano v2's prompt ends '<think>\\n', its call
    turn begins '<TOOLCALL>': the shared '<' is the call's). So a call turn opens with the longest opening a
    text turn showed that fits, and only with its own length where none does."""
    texts, calls = [], []
    for text, start, _, _ in probe.samples():
        k = probe.opener(text, start)
        if k > 0:
            (calls if text is probe.tool_last or text is probe.tool_hist else texts).append(k)
    return texts + [max((t for t in texts if t <= k), default=k) for k in calls]


def _before_opener(text: str, sp: _Specials, openers: set[str]) -> str:
    """``text`` up to the first token that opens turns: a turn's closing never holds one."""
    cut = next((a for a, _, s in sp.spans(text) if s in openers), len(text))
    return text[:cut]


def _closers(probe: _Probe, openers: set[str] = frozenset()) -> tuple[set[str], str, bool]:
    """Terminals, trailer and open_end from the probe renderings."""
    sp = probe.sp
    lasts, hists = {}, []
    for text, _, end, nxt in probe.samples():
        if nxt is None:
            lasts.setdefault(text is probe.tool_last, sp.through_last(_before_opener(text[end:], sp, openers)))
        else:
            between = text[end : text.find(nxt, end)]
            cut = _before_opener(between, sp, openers)
            hists.append((text is probe.tool_hist, cut if sp.spans(cut) else between))
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


def _result_opener(probe: _Probe, marker: str) -> str:
    """The special-led text that ends a tool result where the answer after it has no opener of its own
    (``[/TOOL_RESULTS]``, ``<｜tool▁outputs▁end｜>``); "" when the answer has its marker. It must occur once,
    right after the result, so it opens exactly that answer."""
    text = probe.tool_hist
    if text is None:
        return ""
    r = text.find(_RESULT)
    a2 = text.find(_A2, r) if r >= 0 else -1
    if a2 < 0:
        return ""
    between = text[r + len(_RESULT) : a2]
    spans = probe.sp.spans(between)
    if marker in between or not spans:
        return ""
    candidate = between[spans[-1][0] : spans[-1][1]]  # whitespace after it is the answer's (' A2')
    return candidate if text.count(candidate) == 1 else ""


def _block_gap(probe: _Probe, marker: str, terminals: set[str]) -> str:
    """Whitespace the template writes between one block's closing and the next block's marker of the
    same message (``<|im_end|>\\n<|im_start|>assistant``); "" when the blocks are adjacent."""
    text = probe.reason_last
    at = text.find(_REASON, text.find(_Q1) + len(_Q1))
    nxt = text.find(marker, at) if at >= 0 else -1
    if nxt < 0:
        return ""
    between = text[at + len(_REASON) : nxt]
    ends = [b for _, b, s in probe.sp.spans(between) if s in terminals]
    gap = between[ends[-1] :] if ends else ""
    return gap if gap.isspace() else ""


def _encode(tokenizer, text: str) -> tuple[int, ...]:
    return tuple(tokenizer(text, add_special_tokens=False)["input_ids"])


def probe_template(
    tokenizer, assistant_header: str | None = None, end_of_turn: str | None = None, template_name: str | None = None
) -> TemplateSpec:
    """Learn how the tokenizer's chat template renders assistant turns.

    ``template_name`` picks one of a tokenizer's named templates (a dict ``chat_template``); by default
    the one transformers renders conversations without tools with (``default``).

    Example (SmolLM2-Instruct's ChatML template):
        >>> spec = probe_template(tok)
        >>> spec.assistant_header, spec.end_of_turn, spec.assistant_header_ids, spec.end_of_turn_ids
        ('<|im_start|>assistant\\n', ('<|im_end|>',), (1, 520, 9531, 198), ((2,),))
    """
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        raise TemplateError(
            "the tokenizer has no chat_template. Set tokenizer.chat_template, pass chat_template=..., "
            "or use alpaca_prompt='stanford' for Alpaca records."
        )
    if isinstance(template, dict):
        tokenizer = with_template(tokenizer, template_name or ("default" if "default" in template else next(iter(template))))
    sp = _Specials(tokenizer)
    tools = None
    try:
        prompt = assistant_header if assistant_header is not None else _probe_prompt(tokenizer, sp)
    except RowError as err:
        # some templates render nothing without tools (they loop over them unconditionally)
        tools = _TOOLS
        try:
            prompt = assistant_header if assistant_header is not None else _probe_prompt(tokenizer, sp, tools)
            _try_render(tokenizer, tools)
        except RowError:
            raise TemplateError(f"the chat template cannot render a one-user-turn conversation: {err.detail}") from err
    if not prompt or (end_of_turn is not None and not end_of_turn):
        raise TemplateError("assistant_header and end_of_turn must be non-empty strings.")
    quiet = quiet_renderer(Renderer(tokenizer), tools)
    openers = conversation_openers(quiet, sp.pattern, "zq0x")
    appended = _appended(_common_suffix(*_endings(quiet)), prompt, sp, openers)
    probe = _Probe(tokenizer, prompt, sp, appended, tools)
    openers_found = _openings(probe)
    if not openers_found:
        raise TemplateError(
            f"the chat template does not render an answer after its generation prompt {prompt!r} "
            f"(rendered {probe.plain_last!r}). Pass assistant_header=... and end_of_turn=... explicitly."
        )
    marker = prompt if assistant_header is not None else _marker(probe, prompt[: min(openers_found)])
    if end_of_turn is not None:
        terminals, trailer, open_end = {end_of_turn}, "", False
    else:
        terminals, trailer, open_end = _closers(probe, openers)
    if not terminals and not open_end:
        raise TemplateError(
            f"no special token closes an assistant turn (rendered {probe.plain_last!r}). "
            "Pass the end-of-turn text explicitly, e.g. end_of_turn='</s>'."
        )
    multi = probe.reason_last is not None and probe.reason_last.count(marker, probe.reason_last.find(_Q1)) > 1
    if multi and end_of_turn is None:
        terminals |= _block_terminals(probe, marker)
    block_gap = _block_gap(probe, marker, terminals) if multi else ""
    ordered = tuple(sorted(terminals, key=lambda t: (probe.plain_hist or "").find(t) if t in (probe.plain_hist or "") else 10**9))
    spec = TemplateSpec(
        assistant_header=prompt,
        marker=marker,
        end_of_turn=ordered,
        trailer=trailer,
        open_end=open_end,
        multi_block=multi,
        keeps_developer=_renders_role(quiet, "developer"),
        renders_tool_calls=probe.tool_last is not None,
        null_tool_content=probe.tool_last is not None and probe.tool_content is None,
        text_arguments=probe.tool_last is not None and probe.text_arguments,
        shortest_opening=prompt[: min(openers_found)] if assistant_header is None else prompt,
        openings=tuple(sorted(set(openers_found) | {len(prompt)})) if assistant_header is None else (len(prompt),),
        appended=appended,
        block_gap=block_gap,
        prompt_specials=tuple((a, b) for a, b, _ in sp.spans(prompt)),
        needs_tools=tools is not None,
        template_name=template_name if isinstance(template, dict) else None,
    )
    if spec.renders_tool_calls and assistant_header is None:
        spec = replace(spec, result_opener=_result_opener(probe, marker))
    spec = replace(spec, tool_rounds=spec.renders_tool_calls and _self_check(spec, probe, tools=True))
    if not _self_check(spec, probe, tools=False):
        raise TemplateError(
            f"the probed template structure ({spec.describe()}) does not locate the answers of its own probe "
            f"conversations (rendered {probe.plain_hist!r}). Pass assistant_header=... and end_of_turn=... explicitly."
        )
    return _with_ids(tokenizer, spec, probe)


def with_template(tokenizer, name: str):
    """A shallow copy of the tokenizer whose ``chat_template`` is its named template ``name``."""
    import copy

    templates = tokenizer.chat_template
    if name not in templates:
        raise TemplateError(f"the tokenizer has no chat template named {name!r}; it has {', '.join(templates)}.")
    clone = copy.copy(tokenizer)
    clone.chat_template = templates[name]
    return clone


def _try_render(tokenizer, tools) -> None:
    render(tokenizer, [_user(_Q1), _assistant(_A1)], tools=tools)


def _endings(quiet) -> list[str]:
    """Renderings that end after a user turn, after an answer, and after two rounds."""
    convs = ([_user(_Q1)], [_user(_Q1), _assistant(_A1)], [_user(_Q1), _assistant(_A1), _user(_Q2), _assistant(_A2)])
    return [t for t in (quiet(c) for c in convs) if t is not None] or [""]


def _renders_role(quiet, role: str) -> bool:
    """Whether the template renders ``role`` as a role of its own: its content appears, and not the way
    the template writes any unknown role (a generic ``header(role) + content`` loop). Decided by
    rendering, never by reading the template's text."""
    text = quiet([{"role": role, "content": "Zq role probe"}, _user(_Q1)])
    if text is None or "Zq role probe" not in text:
        return False
    unknown = quiet([{"role": "zqrole", "content": "Zq role probe"}, _user(_Q1)])
    return unknown is None or unknown != text.replace(role, "zqrole")


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
    prompt_ids, marker_ids = _encode(tokenizer, spec.assistant_header), _encode(tokenizer, spec.marker)
    terminal_ids = tuple(_encode(tokenizer, t) for t in spec.end_of_turn)
    result_ids = _encode(tokenizer, spec.result_opener) if spec.result_opener else ()
    ok = (
        bool(marker_ids)
        and marker_ids[0] in special_ids
        and (not result_ids or result_ids[0] in special_ids)
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
        assistant_header_ids=prompt_ids,
        marker_ids=marker_ids,
        end_of_turn_ids=terminal_ids,
        trailer_ids=_ids_at_end(tokenizer, probe.plain_last or "", spec.trailer),
        appended_ids=_ids_at_end(tokenizer, probe.full_last or "", spec.appended),
        block_gap_ids=_encode(tokenizer, spec.block_gap) if spec.block_gap else (),
        result_opener_ids=_encode(tokenizer, spec.result_opener) if spec.result_opener else (),
        token_search=ok,
    )


def _ids_at_end(tokenizer, text: str, tail: str) -> tuple[int, ...]:
    """Ids of the tokens that begin inside ``tail`` at the end of ``text``, as they encode there: a special
    token with ``rstrip=True`` swallows the whitespace after it (Phi-3's ``<|end|>\\n<|endoftext|>`` ends
    in one token, not ``\\n`` plus EOS), so ids encoded out of context would never match."""
    if not tail:
        return ()
    if not text.endswith(tail):
        return _encode(tokenizer, tail)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    begin = len(text) - len(tail)
    return tuple(i for i, (a, b) in zip(enc["input_ids"], enc["offset_mapping"]) if a >= begin and b > a)
def warn_if_eot_not_eos(tokenizer, spec: TemplateSpec) -> None:
    """Warn once when no trained closing token is what generation stops on.

    The model learns to emit a terminal (or the trailer, Phi-3's EOS) after each answer; if generation
    stops only on ``eos_token_id`` and that is none of them, it runs past the answer (the TRL GLM-4 /
    Falcon-Mamba bug class).
    """
    closing = {t[-1] for t in spec.end_of_turn_ids if t} | set(spec.trailer_ids[-1:])
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
        " / ".join(repr(t) for t in spec.end_of_turn), tokenizer.eos_token, tokenizer.eos_token_id,
    )
