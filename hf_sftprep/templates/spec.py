"""TemplateSpec: everything the probe learns about a chat template, as one printable object."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class TemplateSpec:
    """What an assistant turn looks like for one tokenizer + template.

    A rendered assistant turn is ``marker [rest of header] body end-of-turn [trailer]``: the turn opens with
    ``marker`` (a prefix of the generation prompt), continues with as much of ``assistant_header`` as the
    template renders there, then comes what the model generates (answer, reasoning, tool calls, channel
    markers), closed by the first of ``end_of_turn``. Trained: from right after the matched part of
    ``assistant_header`` to the end of the end-of-turn; for the conversation's last turn also ``trailer`` (more special tokens the
    template appends at the very end, e.g. Phi-3's EOS after ``<|end|>``).

    Attributes:
        assistant_header: what ``add_generation_prompt=True`` appends, e.g. ``"<|im_start|>assistant\\n"``
            (the ``assistant_header`` option overrides it).
        marker: the part of ``assistant_header`` every rendered assistant turn begins with (finds turns).
        end_of_turn: special-token texts that close an assistant block (the ``end_of_turn`` option sets one) (``<|im_end|>``; gpt-oss:
            ``<|end|>``, ``<|return|>``, ``<|call|>``; GLM: the next role's marker).
        trailer: text the template adds after the final turn's terminal, trained with it ("" if none).
        open_end: the conversation's last assistant turn may end without a terminal (GLM).
        multi_block: one assistant message may render as several adjacent blocks (gpt-oss analysis +
            final), which are merged into one turn.
        assistant_header_ids, marker_ids, end_of_turn_ids, trailer_ids: the same texts as token ids (in context).
        token_search: marker and end-of-turn texts are led by special tokens, so the vectorized token search
            can find turns; otherwise every row takes the exact character path.
        keeps_developer: the template renders a ``developer`` role itself (else it becomes ``system``).
        renders_tool_calls: the template renders assistant ``tool_calls``.
        null_tool_content: the template renders tool calls only when the message's content is null.
        text_arguments: the template concatenates tool-call ``arguments`` as a JSON string.
        tool_rounds: a conversation with tool results (call, result, answer) parses into one turn per
            assistant message, answers inside them (Gemma 4 renders results inside the model turn: no).
        shortest_opening: the shortest part of ``assistant_header`` a probe turn opened with (history turns of
            DeepSeek-R1 open with ``<｜Assistant｜>`` only; the prompt adds ``<think>\\n``).
        appended: text the template appends to every rendering, whatever ``add_generation_prompt`` says
            (Command A's next-turn opener): part of no turn, never trained. ``appended_ids`` in context.
        openings: the lengths of ``assistant_header`` that probe turns opened with (the whole prompt, and shorter
            ones such as a history turn's): a turn never opens with another part of it, so an answer whose
            first characters happen to continue the prompt (``<b>`` after a prompt ending ``<think>``) keeps them.
        result_opener: where an answer after a tool result has no opener of its own, the text that closes
            the result and opens that answer (``[/TOOL_RESULTS]``); "" otherwise.
        block_gap: whitespace between two blocks of one message (``multi_block``), merged like adjacent ones.
        prompt_specials: character spans of the special tokens inside ``assistant_header``: a turn opening with only
            part of the prompt never ends inside one (``<|START_THINKING|>`` vs ``<|START_RESPONSE|>``).
        needs_tools: the template renders only conversations that come with ``tools``.
        template_name: which of the tokenizer's named templates this spec describes (None: a single one).
    """

    assistant_header: str
    marker: str
    end_of_turn: tuple[str, ...]
    trailer: str = ""
    open_end: bool = False
    multi_block: bool = False
    assistant_header_ids: tuple[int, ...] = ()
    marker_ids: tuple[int, ...] = ()
    end_of_turn_ids: tuple[tuple[int, ...], ...] = ()
    trailer_ids: tuple[int, ...] = ()
    token_search: bool = False
    keeps_developer: bool = False
    renders_tool_calls: bool = False
    shortest_opening: str = ""
    null_tool_content: bool = False
    text_arguments: bool = False
    tool_rounds: bool = False
    appended: str = ""
    appended_ids: tuple[int, ...] = ()
    prompt_specials: tuple[tuple[int, int], ...] = ()
    block_gap: str = ""
    openings: tuple[int, ...] = ()
    result_opener: str = ""
    result_opener_ids: tuple[int, ...] = ()
    block_gap_ids: tuple[int, ...] = ()
    needs_tools: bool = False
    template_name: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def notes(self, quote=repr) -> list[str]:
        """What else is particular about this template's turns, one phrase each."""
        out = []
        if self.shortest_opening and self.shortest_opening != self.assistant_header:
            out.append(f"turns may open with only {quote(self.shortest_opening)}: training starts after it")
        if self.trailer:
            out.append(f"last turn also trains {quote(self.trailer)}")
        if self.open_end:
            out.append("closed by the next role's marker (trained); the last turn may have none")
        if self.multi_block:
            out.append("one message may render as several blocks: trained as one turn")
        if self.appended:
            out.append(f"every rendering ends with {quote(self.appended)}: never trained")
        if self.result_opener:
            out.append(f"an answer after a tool result opens after {quote(self.result_opener)}")
        if self.needs_tools:
            out.append("renders only conversations with tools")
        return out

    def describe(self) -> str:
        """One line for logs and docs, e.g. ``header '<|im_start|>assistant\\n' | closes '<|im_end|>'``."""
        closes = " or ".join(repr(t) for t in self.end_of_turn) or "(next role marker)"
        extra = self.notes()
        tail = f" ({'; '.join(extra)})" if extra else ""
        return f"header {self.assistant_header!r} | closes {closes}{tail}"
