"""generation_prompts(): evaluation prompts through the same row renderer, checks and policy as training rows."""

from __future__ import annotations

from collections import Counter

import numpy as np
from datasets import Dataset, Features, List, Value

from ..errors import RowError
from ..records.detect import detect_format
from .preprocess import SFTPreprocessor
from .stats import PrepReport, kept_mask, log_drops


class _PromptBuilder:
    """Batched map function for generation_prompts (top-level so datasets can hash it).

    Rows go through the same checks as in ``prepare``: the record validation, ``on_invalid`` and the
    ``special_tokens_in_content`` policy. Dropped rows leave an empty placeholder with a ``drop_reason``.
    """

    def __init__(self, tokenizer, options: dict):
        self.pre = SFTPreprocessor(tokenizer, **options)

    def __call__(self, batch, indices):
        pre = self.pre
        fmt = detect_format(list(batch.keys()), pre.options.format, pre.options.column_map)
        prompts, refs, reasons, sanitize = [], [], [], {}
        for i, row in enumerate(indices):
            record = {c: batch[c][i] for c in batch}
            try:
                prompt, ref, chat = pre.rows.prompt(fmt, row, record)
            except RowError as err:
                if pre.options.on_invalid == "error":
                    raise
                prompt, ref, chat = "", "", None
                reasons.append(err.reason)
            else:
                reasons.append("")
            if chat is not None:
                sanitize[i] = chat
            prompts.append(prompt)
            refs.append(ref)
        out = {"prompt": prompts, "reference": refs, "drop_reason": reasons}
        if pre.options.special_tokens_in_content == "split":
            out["prompt_ids"] = self._prompt_ids(prompts, sanitize, fmt)
        return out

    def _prompt_ids(self, prompts: list[str], sanitize: dict, fmt: str) -> list[list[int]]:
        """Prompt ids as ``prepare`` encodes the same text: control strings inside content stay plain text."""
        tok = self.pre.tokenizer
        stanford = self.pre.rows.stanford(fmt)
        ids = tok(prompts, add_special_tokens=stanford)["input_ids"]
        for i, (messages, tools) in sanitize.items():
            ids[i] = tok.apply_chat_template(messages, tools=tools, add_generation_prompt=True, tokenize=True,
                                             sanitize_control_tokens=True, return_dict=False)
        return ids


def generation_prompts(dataset: Dataset, tokenizer, **options) -> Dataset:
    """Evaluation prompts: everything up to the final trained assistant header, plus that answer as reference.

    Rows are checked as ``prepare`` checks them. With ``on_invalid="drop"``, invalid rows are left out and
    their count is logged (``hf_sftprep dropped 1 of 4 rows: no_assistant=1``). The
    ``special_tokens_in_content`` policy applies as in ``prepare``: "error" (the default) refuses content
    holding a special token's text; "allow" keeps it verbatim; "split" adds a ``prompt_ids`` column, the
    prompt tokenized as ``apply_chat_template(..., sanitize_control_tokens=True)`` does, so that such text
    stays plain text. Generate from ``prompt_ids`` then: no string can say "this ``<|im_start|>`` is text",
    so re-tokenizing ``prompt`` would turn it back into a control token.

    Example:
        >>> generation_prompts(raw, tok)[0]["prompt"][-22:]
        '<|im_start|>assistant\\n'
    """
    features = Features({"prompt": Value("string"), "reference": Value("string"), "drop_reason": Value("string")})
    if options.get("special_tokens_in_content") == "split":
        features["prompt_ids"] = List(Value("int32"))
    out = dataset.map(
        _PromptBuilder(tokenizer, options),
        batched=True,
        with_indices=True,
        remove_columns=dataset.column_names,
        features=features,
        desc="hf_sftprep: generation prompts",
    )
    reasons = out.data.column("drop_reason")
    dropped = Counter(r for r in reasons.to_pylist() if r)
    if dropped:
        log_drops(PrepReport(rows_in=out.num_rows, rows_out=out.num_rows - sum(dropped.values()), dropped=dict(sorted(dropped.items()))))
        out = out.select(np.flatnonzero(kept_mask(out.data.table)))
    return out.remove_columns(["drop_reason"])
