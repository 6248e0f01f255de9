"""Records -> rendered texts: the row stage that training rows and generation prompts share.

Each record is normalized (``records/``), checked against what the template can render and against the
control-string policy (``templates/policy.py``), rendered, and, for chat rows, its conversation shape
verified once (``datasets/verify.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import RowError, SFTPrepError
from ..options import PrepOptions
from ..records.alpaca import stanford_prompt
from ..records.clean import needs_pruning, prune_by_features
from ..records.dispatch import to_conversation, turn_flags
from ..templates.controls import adapt_tool_calls
from ..templates.policy import check_renderable, check_specials, check_unicode
from ..templates.reasoning import dropped_reasoning
from ..templates.render import Renderer, render
from ..templates.substitute import Substituter
from ..tokens.batch import Batch


class RowRenderer:
    """Renders one record at a time for one tokenizer and its learned spec (None: no chat template).

    Args:
        tokenizer: the tokenizer whose chat template renders the rows.
        options: the preprocessor's options.
        spec: the probed :class:`~hf_sftprep.templates.spec.TemplateSpec`, or None.
        specials: the tokenizer's special-token regex (the control-string policy searches for it).
        render: the quiet :class:`~hf_sftprep.templates.render.Renderer` of chat rows (None without a spec).
        verifier: the :class:`~hf_sftprep.datasets.verify.ShapeVerifier`, or None (no shape check).
    """

    def __init__(self, tokenizer, options: PrepOptions, spec, specials, render: Renderer | None, verifier=None):
        self.tokenizer, self.options, self.spec, self.specials = tokenizer, options, spec, specials
        self.render, self.verifier = render, verifier
        # rows rendered by substitution where the template only writes message text (templates/substitute.py)
        self.substitute = Substituter(render, verifier.split) if verifier is not None and not verifier.reads else None
        self.leads: list[str] = []  # train_on_eot="all": each rendered row's lead (:meth:`lead`), taken by render_rows
        features = options.features
        # the columns whose nested nulls may be Arrow's (struct columns); below Json ones they are the user's
        self.prune = {c: f for c, f in features.items() if needs_pruning(f)} if features is not None else None

    def stanford(self, fmt: str) -> bool:
        return fmt == "alpaca" and self.options.alpaca_prompt == "stanford"

    def check_specials(self, row: int, messages: list[dict], chat: bool = True, tools: list | None = None) -> bool:
        return check_specials(row, messages, self.specials, self.options.special_tokens_in_content, chat, tools)

    def conversation(self, fmt: str, row: int, record: Mapping):
        """The normalized Conversation of one record, checked against what the template can render."""
        spec = self.spec
        if self.prune:
            record = {c: prune_by_features(v, self.prune[c]) if c in self.prune else v for c, v in record.items()}
        conv = to_conversation(
            fmt,
            row,
            record,
            role_map=self.options.role_map,
            column_map=self.options.column_map,
            keep_developer=spec is not None and spec.keeps_developer,
            keep_nulls=self.prune is not None,
        )
        if spec is not None and (spec.null_tool_content or spec.text_arguments):
            adapt_tool_calls(conv.messages, spec)
        if spec is not None:
            check_renderable(row, conv, spec)
        return conv

    def row(self, fmt: str, row: int, record: Mapping):
        """Text of one row; its per-turn trained flags (chat) or trained char spans (Stanford); the
        normalized (messages, tools) when the 'split' policy must sanitize it (else None); the number
        of assistant turns whose reasoning the template did not render; and the reference's own trained
        character spans when the row's shape verdict does not cover it (else None)."""
        if self.stanford(fmt):
            prompt, output = stanford_prompt(row, record)
            pair = [{"role": "user", "content": prompt}, {"role": "assistant", "content": output}]
            self.check_specials(row, pair, chat=False)
            text = prompt + output + self.tokenizer.eos_token
            check_unicode(row, text, pair, None)
            return text, [(len(prompt), len(text))], None, 0, None
        if self.spec is None:
            raise SFTPrepError("chat records need a tokenizer with a chat_template; set tokenizer.chat_template.")
        conv = self.conversation(fmt, row, record)
        sanitize = self.check_specials(row, conv.messages, tools=conv.tools)
        flags = turn_flags(conv, self.spec.multi_block, row)
        key = text = None
        if self.substitute is not None:
            key, texts, splice = self.substitute.lookup(conv.messages, conv.trained, conv.tools)
            if splice is not None:  # a checked layout whose shape was vouched for: no render, no shape check
                text = self.substitute.text(splice, texts, lambda: self.render(conv.messages, row=row, tools=conv.tools))
        if text is not None:
            check_unicode(row, text, conv.messages, conv.tools)
            spans = None
        else:
            text = self.render(conv.messages, row=row, tools=conv.tools)
            check_unicode(row, text, conv.messages, conv.tools)
            spans = self._verify(row, conv, flags, text) if self.verifier is not None else None
            if key is not None and spans is None and self.verifier.last_verdict is None:
                self.substitute.learn(key, conv.messages, conv.tools, texts, text)
        dropped = dropped_reasoning(text, conv.messages, conv.reasoning) if any(conv.reasoning) else 0
        if self.options.train_on_eot == "all":
            self.leads.append(self.lead(conv, text))
        return text, flags, (conv.messages, conv.tools) if sanitize else None, dropped, spans

    def lead(self, conv, text: str) -> str:
        """The text the template writes before the row's first message's content: a default system block
        it adds on its own (Qwen2.5's "You are Qwen...", Llama 3.1's date block) and the first header. Found
        by rendering the row with that content replaced by a marker; "" when the row's text does not start
        with what precedes the marker (a template that reads the content), so nothing is taken as lead."""
        first = conv.messages[0]
        if not isinstance(first.get("content"), str) or not first["content"]:
            return ""
        marker = "\u2063lead\u2063"
        swapped = [{**first, "content": marker}, *conv.messages[1:]]
        try:
            probe = self.render(swapped, row=-1, tools=conv.tools)
        except (RowError, SFTPrepError):
            return ""
        head = probe.split(marker, 1)[0] if marker in probe else ""
        return head if text.startswith(head + first["content"]) else ""

    def _verify(self, row: int, conv, flags: list[bool], text: str):
        """None (the labelling path is vouched for), or the reference's own trained spans of ``text``."""
        problem = self.verifier.check_row(conv.messages, conv.trained, flags, conv.tools, text)
        if problem is None or isinstance(problem, list):
            return problem
        roles = ", ".join(str(m.get("role")) for m in conv.messages)
        raise RowError(
            row,
            "unverified_shape",
            f"for a conversation of this shape (roles {roles}) {problem}, so the row is refused rather than "
            f"mislabelled (template structure: {self.spec.describe()}). Pass assistant_header=... and "
            "end_of_turn=... matching the template, or drop such rows with on_invalid='drop'.",
        )

    def prompt(self, fmt: str, row: int, record: Mapping):
        """A generation prompt: (text up to the last trained answer's header, that answer, and (messages,
        tools) when 'split' must sanitize the prompt, else None). Checked as :meth:`row` checks."""
        if self.stanford(fmt):
            prompt, ref = stanford_prompt(row, record)
            self.check_specials(row, [{"role": "user", "content": prompt}, {"role": "assistant", "content": ref}], chat=False)
            return prompt, ref, None
        conv = self.conversation(fmt, row, record)
        sanitize = self.check_specials(row, conv.messages, tools=conv.tools)
        turns = [i for i, (m, trained) in enumerate(zip(conv.messages, conv.trained)) if trained and m["role"] == "assistant"]
        if not turns:  # normalization refuses such records already; kept so no ValueError can escape
            raise RowError(row, "no_assistant", "no trained assistant message; expected at least one to prompt for.")
        head = conv.messages[: turns[-1]]
        prompt = render(self.tokenizer, head, add_generation_prompt=True, row=row, tools=conv.tools)
        return prompt, conv.messages[turns[-1]].get("content"), (head, conv.tools) if sanitize else None


def render_rows(batch: Batch, records: Mapping[str, list], fmt: str, renderer: RowRenderer) -> Batch:
    """Render every row of ``records`` into ``batch`` (texts, targets, kept, sanitize, lost, dropped)."""
    columns = list(records.keys())
    for i, row in enumerate(batch.rows):
        record = {c: records[c][i] for c in columns}
        try:
            text, target, messages, n_lost, spans = renderer.row(fmt, row, record)
        except RowError as err:
            renderer.leads.clear()
            batch.refuse(i, err)
            continue
        if renderer.leads:
            batch.leads[len(batch.texts)] = renderer.leads.pop()
        if messages is not None:
            batch.sanitize[len(batch.texts)] = messages
        if spans is not None:
            batch.regions[len(batch.texts)] = spans
        batch.texts.append(text)
        batch.targets.append(target)
        batch.kept.append(i)
        batch.lost.append(n_lost)
    return batch


def check_batched(batch: Mapping[str, list], indices) -> None:
    """Refuse one record passed as a batch (``Dataset.map`` without ``batched=True``): its fields would be
    read as rows, and valid records blamed for being dicts."""
    one = next((c for c, v in batch.items() if isinstance(v, (str, bytes, int, float, bool, Mapping))), None)
    if one is None and not isinstance(indices, int):
        chats = [v for c, v in batch.items() if c in ("messages", "conversations") and isinstance(v, list) and v]
        if not any(all(isinstance(m, Mapping) and ("role" in m or "from" in m) for m in v) for v in chats):
            return
    found = f"an int index ({indices})" if isinstance(indices, int) else (
        f"column {one!r} holding one value" if one else "a chat column holding one conversation's messages")
    raise SFTPrepError(
        f"SFTPreprocessor got one record, not a batch ({found}): it is a batched map function. Call "
        "Dataset.map(SFTPreprocessor(tok), batched=True, with_indices=True, remove_columns=raw.column_names), "
        "or use prepare(raw, tok)."
    )
