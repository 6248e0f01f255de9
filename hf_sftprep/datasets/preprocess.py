"""SFTPreprocessor: the batched ``Dataset.map`` function that turns records into masked tokens.

Per batch: normalize and render every row (Python, one pass), tokenize all rows in one call, then
find assistant turns with a numpy search over the flat token buffer. Rows the search cannot vouch for
(turn count differs from the record's, a turn left open, a prompt token that may straddle the answer)
are re-done exactly from character offsets. Labels are built, truncated and written as Arrow ``int32``
list columns sharing one offsets buffer.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping

import numpy as np

from .._version import __version__
from ..errors import RowError, SFTPrepError, TemplateError
from ..options import Backend, PrepOptions, TrainOn, TrainOnEot
from ..records.detect import detect_format
from ..templates.probe import probe_template, warn_if_eot_not_eos, with_template
from ..templates.render import Renderer, special_pattern, special_strings
from ..templates.shapes import added_token_splitter
from ..tokens.batch import Batch
from ..tokens.encode import encode_batch
from ..tokens.eot import occurrence_starts
from ..tokens.eot import train_on_eot as apply_eot_mode
from ..tokens.fast_backend import Encoder
from ..tokens.label import label_chat, label_stanford
from ..tokens.masking import truncate_batch
from ..tokens.pieces import piece_independent, split_pattern
from ..tokens.turns import TurnSearch
from .named import pick_template, process_named, routable_names
from .rows import RowRenderer, check_batched, render_rows
from .schema import assemble, output
from .verify import ShapeVerifier

logger = logging.getLogger("hf_sftprep")


class SFTPreprocessor:
    """Picklable batched map function: records -> ``input_ids``, ``labels``, ``length``.

    Args:
        tokenizer: a fast tokenizer; its ``chat_template`` renders chat records.
        format: "auto" (from the columns), "openai", "alpaca" or "sharegpt".
        column_map: role -> column, to build messages from one column per role.
        role_map: rename roles, e.g. ``{"human": "user", "gpt": "assistant"}``.
        alpaca_prompt: "chat" (through the chat template) or "stanford" (Stanford
            Alpaca's PROMPT_DICT + output + EOS). Default: "chat" when the tokenizer
            has a chat template.
        train_on: "all" assistant turns with weight 1 (or none), or only the "last" of them.
        train_on_inputs: train every token (prompt included).
        max_length: truncate (or drop, see ``max_length_strategy``) after labels are built.
            None means no limit.
        truncation_side: "right" keeps the start, "left" keeps the end.
        max_length_strategy: "truncate", "drop" or "error" for rows over ``max_length``.
        on_invalid: "error" raises on the first bad record; "drop" drops, counts and reports it.
        special_tokens_in_content: "error" refuses content holding a special token's text
            (it would become a real control token, e.g. a fake assistant turn); "split" encodes
            such text as plain text, exactly as ``apply_chat_template(..., sanitize_control_tokens=True)``
            does at inference; "allow" tokenizes it as the template does (real control tokens).
        assistant_header, end_of_turn: override the probed generation prompt / closing token text.
        dedupe_pieces: tokenize each distinct text piece (between special tokens) once per batch,
            when a probe shows the tokenizer is piece-independent and the HF backend encodes (fastokens
            has its own segment cache); ids are identical either way.
        features: the input dataset's ``Features`` (``prepare()`` passes them). Nested ``None`` values
            under a ``Json`` feature are the user's and are rendered, as ``apply_chat_template`` renders
            them (``"default": null`` in a tool schema, a null argument); in struct columns Arrow may have
            added them, so they are dropped. Without features every nested ``None`` is dropped.
        train_on_eot: which end-of-turn tokens are trained: "turn" (each trained turn's, the default),
            "last" (only the row's final trained turn's), "none", or "all" (also those closing the messages that
            are not trained). Applied to the verified labels (``tokens/eot.py``).
        emit_meta: also emit the report columns (``drop_reason``, ...), keep dropped rows as empty
            placeholders and return an Arrow table (``prepare`` uses this to report, filter and re-attach
            the user's other columns). Without it a dict is returned, so that ``Dataset.map`` keeps every
            column the caller does not remove, as with any map function.

    Example:
        >>> ds = raw.map(SFTPreprocessor(tok), batched=True, with_indices=True, remove_columns=raw.column_names)
        >>> ds[0]["labels"][:6]
        [-100, -100, -100, -100, -100, -100]
    """

    def __init__(
        self,
        tokenizer,
        *,
        format: str = "auto",
        column_map: Mapping[str, str] | None = None,
        role_map: Mapping[str, str] | None = None,
        alpaca_prompt: str | None = None,
        train_on: TrainOn = "all",
        train_on_inputs: bool = False,
        max_length: int | None = None,
        truncation_side: str = "right",
        max_length_strategy: str = "truncate",
        on_invalid: str = "error",
        special_tokens_in_content: str = "error",
        assistant_header: str | None = None,
        end_of_turn: str | None = None,
        emit_meta: bool = False,
        dedupe_pieces: bool = True,
        backend: Backend = "auto",
        features=None,
        train_on_eot: TrainOnEot = "turn",
    ):
        has_template = bool(getattr(tokenizer, "chat_template", None))
        self.options = options = PrepOptions(
            format=format, column_map=column_map, role_map=role_map,
            alpaca_prompt=alpaca_prompt or ("chat" if has_template else "stanford"), train_on=train_on,
            train_on_inputs=train_on_inputs, max_length=max_length, truncation_side=truncation_side,
            max_length_strategy=max_length_strategy, on_invalid=on_invalid,
            special_tokens_in_content=special_tokens_in_content, assistant_header=assistant_header,
            end_of_turn=end_of_turn, emit_meta=emit_meta, dedupe_pieces=dedupe_pieces, backend=backend,
            features=features, train_on_eot=train_on_eot,
        )
        if train_on_eot != "turn" and (train_on_inputs or special_tokens_in_content == "allow"):
            why = ("train_on_inputs trains every token, end-of-turn ones included" if train_on_inputs else
                   "special_tokens_in_content='allow' lets content hold end-of-turn tokens, so they could not be told "
                   "from the template's")
            raise SFTPrepError(f"train_on_eot={train_on_eot!r} cannot be combined: {why}; use train_on_eot='turn'.")
        if options.alpaca_prompt == "stanford" and not tokenizer.eos_token:
            raise SFTPrepError("alpaca_prompt='stanford' appends the EOS token, but the tokenizer has none; set tokenizer.eos_token.")
        self.tokenizer = tokenizer
        self.encoder = Encoder(tokenizer, backend)
        template = getattr(tokenizer, "chat_template", None)
        self.templates = dict(template) if isinstance(template, dict) else None
        self.named: dict[str, SFTPreprocessor] | None = None
        if self.templates is not None:
            tokenizer = self._probe_named(tokenizer)
        self.spec = probe_template(tokenizer, assistant_header, end_of_turn) if has_template else None
        self.search = None
        if self.spec is not None:
            warn_if_eot_not_eos(tokenizer, self.spec)
            self.search = TurnSearch(tokenizer, self.spec)
        specials = special_pattern(tokenizer)
        self._split = split_pattern(special_strings(tokenizer)) if dedupe_pieces else None
        if self._split is not None and not piece_independent(tokenizer, self._split, special_strings(tokenizer)):
            self._split = None
        render = Renderer(tokenizer) if self.spec is not None else None
        verifier = None
        if self.spec is not None and not train_on_inputs:
            verifier = ShapeVerifier(
                tokenizer, render, self._label_one, specials, added_token_splitter(tokenizer), train_on == "last",
                self.spec.multi_block,
            )
        self.rows = RowRenderer(tokenizer, options, self.spec, specials, render, verifier)
        # (first row, rows) -> the rendered Batch, filled by prepare() while the fast backend builds (ahead.py)
        self.ahead: dict[tuple[int, int], Batch] = {}

    def _probe_named(self, tokenizer):
        """Probe each named template a row can pick on its own; return the tokenizer with the default one."""
        self.named, self.named_errors = {}, {}
        default = pick_template(self.templates, False)
        for name in routable_names(self.templates) or [default]:
            try:
                self.named[name] = SFTPreprocessor(with_template(tokenizer, name), **{**self.options.to_dict(), "emit_meta": True})
            except TemplateError as err:
                if name == default:
                    raise
                self.named_errors[name] = str(err)  # its rows are refused with this reason, never re-routed
        return with_template(tokenizer, default)

    # -- pickling: datasets hashes this state to fingerprint the map -------------------------
    def cache_options(self) -> dict:
        """The options that change the output: all but ``backend`` (both backends give identical ids)."""
        return {k: v for k, v in self.options.to_dict().items() if k != "backend"}

    def __getstate__(self):
        state = {"tokenizer": self.tokenizer, "options": self.cache_options(), "version": __version__}
        return state if self.options.backend == "auto" else {**state, "backend": self.options.backend}

    def __setstate__(self, state):
        self.__init__(state["tokenizer"], **state["options"], backend=state.get("backend", "auto"))

    # -- the batch function --------------------------------------------------------------------
    def __call__(self, batch: Mapping[str, list], indices: list[int] | None = None):
        if not (self.ahead and isinstance(indices, list) and indices and (indices[0], len(indices)) in self.ahead):
            check_batched(batch, indices)  # (a batch rendered ahead was a batch; its lazy columns stay unread)
        try:
            return self.process(batch, indices)
        except RowError as err:
            if indices is not None or err.row is None:
                raise
            raise RowError(
                None,
                err.reason,
                f"row {err.row} of this batch (a batch-relative number: call Dataset.map with with_indices=True "
                f"for dataset row numbers): {err.detail}",
            ) from None

    def process(self, records: Mapping[str, list], indices: list[int] | None):
        """The stages on one batch: render, encode, label, truncate, assemble (no input checks)."""
        if indices is not None:
            n, rows = len(indices), list(indices)
        else:
            n = len(next(iter(records.values()))) if records else 0
            rows = list(range(n))
        if self.named is not None:
            return process_named(self, records, rows)
        batch = self.ahead.pop((rows[0], n), None) if self.ahead and rows else None
        if batch is None:
            batch = self.render(records, rows)
        opts = self.options
        if batch.stanford:
            label_stanford(batch, self.tokenizer, opts.train_on_inputs)
        elif batch.texts:
            encode_batch(batch, self.tokenizer, self.encoder, self._split)
            label_chat(batch, self.search, self.tokenizer, self.spec, opts.train_on == "last", opts.train_on_inputs)
        if opts.train_on_eot != "turn" and batch.texts:
            self._eot_mode(batch)
        truncate_batch(batch, opts.max_length, opts.truncation_side, opts.max_length_strategy, self._end_ids(batch.stanford))
        if batch.dropped and not opts.emit_meta:
            logger.warning("dropped %d of %d rows in this batch: %s", len(batch.dropped), n, dict(Counter(batch.dropped.values())))
        return output(assemble(batch, opts.emit_meta), opts.emit_meta)

    def render(self, records: Mapping[str, list], rows: list[int]) -> Batch:
        """The render stage of a batch: a :class:`Batch` with each kept row's text and targets."""
        fmt = detect_format(list(records.keys()), self.options.format, self.options.column_map)
        batch = Batch(rows, strict=self.options.on_invalid == "error", stanford=self.rows.stanford(fmt))
        return render_rows(batch, records, fmt, self.rows)

    def _label_one(self, text: str, flags: list[bool]):
        """The labelling path on one rendered text: ``(ids, trained)``, or None when it refuses the text."""
        batch = Batch([-1], strict=True, texts=[text], targets=[flags], kept=[0], lost=[0])
        try:
            encode_batch(batch, self.tokenizer, self.encoder, self._split)
            label_chat(batch, self.search, self.tokenizer, self.spec, self.options.train_on == "last", False)
        except RowError:
            return None
        return None if batch.dropped else (batch.flat, batch.trained)

    def _eot_mode(self, batch: Batch) -> None:
        if batch.stanford:  # the Stanford target ends with the EOS, its one end of turn
            apply_eot_mode(batch, ((self.tokenizer.eos_token_id,),), (), self.options.train_on_eot)
        else:
            spec = self.spec
            counts = {lead: len(occurrence_starts(np.asarray(self.tokenizer(lead, add_special_tokens=False)["input_ids"]),
                                                  spec.end_of_turn_ids))
                      for lead in set(batch.leads.values()) if lead}  # one default block, encoded once
            leads = {k: counts[lead] for k, lead in batch.leads.items() if lead}
            apply_eot_mode(batch, spec.end_of_turn_ids, spec.trailer_ids, self.options.train_on_eot, spec.open_end, leads)

    def _end_ids(self, stanford: bool) -> np.ndarray:
        if stanford or self.spec is None:
            return np.asarray([self.tokenizer.eos_token_id], dtype=np.int64)
        return np.asarray([t[-1] for t in self.spec.end_of_turn_ids] + list(self.spec.trailer_ids[-1:]), dtype=np.int64)
