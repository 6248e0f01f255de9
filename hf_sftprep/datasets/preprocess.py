"""SFTPreprocessor: the batched ``Dataset.map`` function that turns records into masked tokens.

Per batch: validate and render every row (Python, one pass), tokenize all rows in
one call, then find assistant turns with a numpy search over the flat token buffer.
Rows the search cannot vouch for (turn count differs from the record's assistant
count) are re-done exactly from character offsets. Labels are built, truncated and
written as Arrow ``int32`` list columns sharing one offsets buffer.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from typing import Literal

import numpy as np
import pyarrow as pa

from .. import __version__
from ..errors import RowError, SFTPrepError
from ..tokens.exact import header_char_spans, offsets_trained_mask
from ..records.alpaca import alpaca_messages, stanford_prompt
from ..records.detect import check_choice, detect_format
from ..records.openai import mapped_messages, openai_messages
from ..tokens.masking import (
    build_labels,
    count_per_row,
    last_per_row,
    span_mask,
    take_rows,
    truncate,
    turn_spans,
)
from ..tokens.pieces import piece_independent, split_pattern, tokenize_pieced, worth_deduping
from ..templates.probe import Renderer, probe_template, special_pattern, special_strings, warn_if_eot_not_eos

logger = logging.getLogger("hf_sftprep")

TrainOn = Literal["all", "last"]
OUTPUT_COLUMNS = ("input_ids", "labels", "length")
META_COLUMNS = ("drop_reason", "eot_truncated", "n_trained")


class SFTPreprocessor:
    """Picklable batched map function: records -> ``input_ids``, ``labels``, ``length``.

    Args:
        tokenizer: a fast tokenizer; its ``chat_template`` renders chat records.
        format: "auto" (from the columns), "openai" or "alpaca".
        column_map: role -> column, to build messages from one column per role.
        role_map: rename roles, e.g. ``{"human": "user", "gpt": "assistant"}``.
        alpaca_prompt: "chat" (through the chat template) or "stanford" (Stanford
            Alpaca's PROMPT_DICT + output + EOS). Default: "chat" when the tokenizer
            has a chat template.
        train_on: "all" assistant turns, or only the "last".
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
        assistant_header, end_of_turn: override the probed header / end-of-turn text.
        dedupe_pieces: tokenize each distinct text piece (between special tokens) once per batch,
            when a probe shows the tokenizer is piece-independent; ids are identical either way.
        emit_meta: also emit ``drop_reason`` / ``eot_truncated`` and keep dropped rows as
            empty placeholders (``prepare`` uses this to report and filter).

    Example:
        >>> ds = raw.map(SFTPreprocessor(tok), batched=True, remove_columns=raw.column_names)
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
    ):
        has_template = bool(getattr(tokenizer, "chat_template", None))
        alpaca_prompt = alpaca_prompt or ("chat" if has_template else "stanford")
        check_choice("format", format, ("auto", "openai", "alpaca"))
        check_choice("alpaca_prompt", alpaca_prompt, ("chat", "stanford"))
        check_choice("train_on", train_on, ("all", "last"))
        check_choice("truncation_side", truncation_side, ("right", "left"))
        check_choice("max_length_strategy", max_length_strategy, ("truncate", "drop", "error"))
        check_choice("on_invalid", on_invalid, ("error", "drop"))
        check_choice("special_tokens_in_content", special_tokens_in_content, ("error", "split", "allow"))
        if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
            raise SFTPrepError(f"max_length={max_length!r} is not a positive int; pass a positive int, or None for no limit.")
        if alpaca_prompt == "stanford" and not tokenizer.eos_token:
            raise SFTPrepError("alpaca_prompt='stanford' appends the EOS token, but the tokenizer has none; set tokenizer.eos_token.")
        self.tokenizer = tokenizer
        self.options = {
            "format": format,
            "column_map": dict(column_map) if column_map else None,
            "role_map": dict(role_map) if role_map else None,
            "alpaca_prompt": alpaca_prompt,
            "train_on": train_on,
            "train_on_inputs": train_on_inputs,
            "max_length": max_length,
            "truncation_side": truncation_side,
            "max_length_strategy": max_length_strategy,
            "on_invalid": on_invalid,
            "special_tokens_in_content": special_tokens_in_content,
            "assistant_header": assistant_header,
            "end_of_turn": end_of_turn,
            "emit_meta": emit_meta,
            "dedupe_pieces": dedupe_pieces,
        }
        self.spec = probe_template(tokenizer, assistant_header, end_of_turn) if has_template else None
        if self.spec is not None:
            warn_if_eot_not_eos(tokenizer, self.spec)
            self._render = Renderer(tokenizer)
        self._specials = special_pattern(tokenizer)
        self._split = split_pattern(special_strings(tokenizer)) if dedupe_pieces else None
        if self._split is not None and not piece_independent(tokenizer, self._split, special_strings(tokenizer)):
            self._split = None

    # -- pickling: datasets hashes this state to fingerprint the map -------------------------
    def __getstate__(self):
        return {"tokenizer": self.tokenizer, "options": self.options, "version": __version__}

    def __setstate__(self, state):
        self.__init__(state["tokenizer"], **state["options"])

    # -- per-row validation and rendering ------------------------------------------------------
    def _check_specials(self, row: int, messages: list[dict], chat: bool = True) -> bool:
        """True when the row holds control strings that the 'split' policy must encode as text."""
        policy = self.options["special_tokens_in_content"]
        if policy == "allow" or self._specials is None:
            return False
        for i, m in enumerate(messages):
            hit = self._specials.search(m["content"])
            if hit and policy == "split" and chat:
                return True
            if hit:
                raise RowError(
                    row,
                    "special_token_in_content",
                    f"message {i} ({m['role']}) contains the control string {hit.group()!r}, which would be "
                    "tokenized as a real special token (an injected turn). Remove it from the data, pass "
                    "special_tokens_in_content='split' (chat templates) to encode it as plain text, or 'allow' "
                    "if it is intended.",
                )
        return False

    def _messages(self, fmt: str, row: int, record: Mapping) -> list[dict]:
        if fmt == "openai":
            if "messages" not in record:
                raise RowError(row, "missing_field", "field 'messages' is missing; expected a list of {role, content}.")
            return openai_messages(row, record["messages"], self.options["role_map"])
        if fmt == "sharegpt":  # an OpenAI record once converted, so it is normalized like one
            from ..records.sharegpt import sharegpt_record
            return self._messages("openai", row, sharegpt_record(row, record, self.options["role_map"]))
        if fmt == "alpaca":
            return alpaca_messages(row, record)
        return mapped_messages(row, record, self.options["column_map"])

    def _render_row(self, fmt: str, row: int, record: Mapping):
        """Text of one row; its assistant count (chat) or trained char spans (Stanford); and, for rows the
        'split' policy must sanitize, its messages (else None)."""
        if fmt == "alpaca" and self.options["alpaca_prompt"] == "stanford":
            prompt, output = stanford_prompt(row, record)
            pair = [{"role": "user", "content": prompt}, {"role": "assistant", "content": output}]
            self._check_specials(row, pair, chat=False)
            text = prompt + output + self.tokenizer.eos_token
            return text, [(len(prompt), len(text))], None
        if self.spec is None:
            raise SFTPrepError("chat records need a tokenizer with a chat_template; set tokenizer.chat_template.")
        messages = self._messages(fmt, row, record)
        sanitize = self._check_specials(row, messages)
        count = sum(m["role"] == "assistant" for m in messages)
        return self._render(messages, row=row), count, messages if sanitize else None

    def _render_batch(self, batch: Mapping[str, list], rows: list[int]):
        fmt = detect_format(list(batch.keys()), self.options["format"], self.options["column_map"])
        columns = list(batch.keys())
        texts, targets, kept, dropped, sanitize = [], [], [], {}, {}
        for i, row in enumerate(rows):
            record = {c: batch[c][i] for c in columns}
            try:
                text, target, messages = self._render_row(fmt, row, record)
            except RowError as err:
                if self.options["on_invalid"] == "error":
                    raise
                dropped[i] = err.reason
                continue
            if messages is not None:
                sanitize[len(texts)] = messages
            texts.append(text)
            targets.append(target)
            kept.append(i)
        return fmt, texts, targets, kept, dropped, sanitize

    # -- the batch function --------------------------------------------------------------------
    def __call__(self, batch: Mapping[str, list], indices: list[int] | None = None) -> pa.Table:
        n = len(next(iter(batch.values()))) if batch else 0
        rows = list(indices) if indices is not None else list(range(n))
        fmt, texts, targets, kept, dropped, sanitize = self._render_batch(batch, rows)
        stanford = fmt == "alpaca" and self.options["alpaca_prompt"] == "stanford"
        kept_rows = [rows[i] for i in kept]
        failed: dict[int, str] = {}
        self._kept_index = {row: k for k, row in enumerate(kept_rows)}
        flat, offsets, trained = self._tokenize_and_mask(texts, targets, kept_rows, stanford, sanitize, failed)
        flat, offsets, trained, reasons, eot_cut = self._truncate(flat, offsets, trained, kept_rows)
        for k, reason in {**reasons, **failed}.items():
            dropped[kept[k]] = reason
        return self._to_table(n, kept, dropped, flat, offsets, trained, eot_cut)

    def _sanitized_ids(self, texts, sanitize) -> pa.ListArray:
        """Whole-text ids, with the 'split' rows encoded by transformers' control-token sanitizer."""
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        for k, messages in sanitize.items():
            ids[k] = self.tokenizer.apply_chat_template(
                messages, tokenize=True, sanitize_control_tokens=True, return_dict=False
            )
        return pa.array(ids, type=pa.list_(pa.int32()))

    def _tokenize_and_mask(self, texts, targets, kept_rows, stanford: bool, sanitize: dict, failed: dict):
        """Flat ids, row offsets and trained mask; rows that cannot be labelled exactly go to ``failed``."""
        if not texts:  # every row of the batch was dropped
            return np.zeros(0, np.int32), np.zeros(1, np.int64), np.zeros(0, bool)
        if stanford:
            return offsets_trained_mask(self.tokenizer, texts, targets, add_special_tokens=True)
        if sanitize:
            arr = self._sanitized_ids(texts, sanitize)
        elif self._split is not None and worth_deduping(texts, self._split):
            arr, _ = tokenize_pieced(self.tokenizer, texts, self._split)
        else:
            arr = pa.array(self.tokenizer(texts, add_special_tokens=False)["input_ids"], type=pa.list_(pa.int32()))
        flat = arr.values.to_numpy(zero_copy_only=False) if len(arr) else np.zeros(0, np.int32)
        offsets = arr.offsets.to_numpy().astype(np.int64)
        flat = flat[offsets[0] : offsets[-1]] if len(arr) else flat
        offsets -= offsets[0]
        if self.options["train_on_inputs"]:
            return flat, offsets, np.ones(len(flat), dtype=bool)
        expected = np.asarray(targets, dtype=np.int64)
        exact = np.ones(len(texts), dtype=bool)
        trained = np.zeros(len(flat), dtype=bool)
        if self.spec.token_search and len(flat):
            spans, broken = turn_spans(flat, offsets, np.asarray(self.spec.header_ids), np.asarray(self.spec.end_ids))
            found = np.bincount(spans.row, minlength=len(texts))
            exact = broken | (found != expected)
            if self.options["train_on"] == "last":
                spans = last_per_row(spans)
            good = ~exact[spans.row]
            trained = span_mask(len(flat), spans.start[good], spans.stop[good])
        for k in [int(b) for b in np.flatnonzero(exact) if int(b) in sanitize]:
            exact[k] = False  # sanitized ids do not follow the rendered text: no offsets path for them
            self._fail(failed, RowError(
                kept_rows[k], "unverifiable_sanitized",
                "the row needed control-string sanitizing and its assistant turns could not be verified on "
                "the token level (a header merged with the answer's first characters). Remove the control "
                "strings from the content, or drop such rows with on_invalid='drop'."))
        bad = np.flatnonzero(exact)
        if len(bad):
            self._exact_rows(bad, texts, targets, kept_rows, flat, offsets, trained, failed)
        for k in failed:
            trained[offsets[k] : offsets[k + 1]] = False
        return flat, offsets, trained

    def _fail(self, failed: dict, err: RowError) -> None:
        if self.options["on_invalid"] == "error":
            raise err
        failed[self._kept_index[err.row]] = err.reason

    def _exact_rows(self, bad, texts, targets, kept_rows, flat, offsets, trained, failed) -> None:
        """Redo the given rows from character offsets and write their mask into ``trained``."""
        logger.debug("exact path for %d of %d rows", len(bad), len(texts))
        spec, last = self.spec, self.options["train_on"] == "last"
        sub_texts, sub_spans = [], []
        for b in bad:
            try:
                spans = header_char_spans(kept_rows[b], texts[b], spec.header_text, spec.end_text, int(targets[b]))
            except RowError as err:
                self._fail(failed, err)
                spans = []
            sub_texts.append(texts[b])
            sub_spans.append(spans[-1:] if last else spans)
        sub_flat, sub_offsets, sub_trained = offsets_trained_mask(self.tokenizer, sub_texts, sub_spans, False)
        index, _ = take_rows(offsets[bad], np.diff(offsets)[bad])
        if not np.array_equal(flat[index], sub_flat):
            raise SFTPrepError("internal: re-tokenizing with offsets gave different ids; please report this with the row.")
        trained[index] = sub_trained

    def _truncate(self, flat, offsets, trained, kept_rows):
        """Apply ``max_length``; return new buffers, drop reasons by kept-index, and eot-cut flags."""
        max_length = self.options["max_length"]
        reasons: dict[int, str] = {}
        eot_cut = np.zeros(len(offsets) - 1, dtype=bool)
        if max_length is not None:
            lengths = np.diff(offsets)
            over = np.flatnonzero(lengths > max_length)
            strategy = self.options["max_length_strategy"]
            if len(over) and strategy == "error":
                k = int(over[0])
                raise RowError(
                    kept_rows[k],
                    "too_long",
                    f"the row has {int(lengths[k])} tokens; expected at most max_length={max_length}. "
                    "Raise max_length, or pass max_length_strategy='truncate' or 'drop'.",
                )
            if strategy == "drop":
                reasons.update((int(k), "too_long") for k in over)
            else:
                before = count_per_row(trained, offsets)
                index, offsets, _ = truncate(offsets, max_length, self.options["truncation_side"])
                flat, trained = flat[index], trained[index]
                eot_cut = count_per_row(trained, offsets) < before
        n_trained = count_per_row(trained, offsets)
        for k in np.flatnonzero(n_trained == 0):
            reasons.setdefault(int(k), "no_trained_tokens")
        return flat, offsets, trained, reasons, eot_cut

    def _to_table(self, n, kept, dropped, flat, offsets, trained, eot_cut) -> pa.Table:
        labels = build_labels(flat, trained)
        lengths = np.diff(offsets)
        emit_meta = self.options["emit_meta"]
        if dropped and not emit_meta:
            logger.warning("dropped %d of %d rows in this batch: %s", len(dropped), n, dict(Counter(dropped.values())))
        # position of each output row among the kept rows (-1: dropped, empty placeholder)
        out_rows = list(range(n)) if emit_meta else [i for i in range(n) if i not in dropped]
        kept_pos = {i: k for k, i in enumerate(kept)}
        src = np.array([kept_pos[i] if i not in dropped else -1 for i in out_rows], dtype=np.int64)
        real = np.maximum(src, 0)
        out_len = np.where(src >= 0, lengths[real], 0) if len(lengths) else np.zeros(len(src), np.int64)
        index, new_offsets = take_rows(offsets[:-1][real] if len(lengths) else np.zeros(len(src), np.int64), out_len)
        pa_offsets = pa.array(new_offsets.astype(np.int32))
        columns = {
            "input_ids": pa.ListArray.from_arrays(pa_offsets, pa.array(flat[index], type=pa.int32())),
            "labels": pa.ListArray.from_arrays(pa_offsets, pa.array(labels[index], type=pa.int32())),
            "length": pa.array(out_len.astype(np.int32), type=pa.int32()),
        }
        if emit_meta:
            columns["drop_reason"] = pa.array([dropped.get(i, "") for i in out_rows], type=pa.string())
            cut = (src >= 0) & eot_cut[real] if len(eot_cut) else np.zeros(len(src), bool)
            columns["eot_truncated"] = pa.array(cut, type=pa.bool_())
            # per-row trained counts, so the report never has to page the labels back in
            n_trained = count_per_row(trained, offsets) if len(lengths) else np.zeros(0, np.int64)
            columns["n_trained"] = pa.array(np.where(src >= 0, n_trained[real] if len(lengths) else 0, 0).astype(np.int32))
        return pa.table(columns)
