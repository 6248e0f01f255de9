"""Named chat templates (a dict ``chat_template``: ``default``, ``tool_use``, ``rag``), row by row.

transformers renders a conversation with ``tool_use`` when ``tools`` are given (``tools is not None``:
an empty list counts) and the tokenizer has one, else with ``default``. Each template a row can pick is probed on its own, each row is prepared
by the preprocessor of the template transformers would pick for it, and the batch is put back
together in the input order, so ids equal ``apply_chat_template(messages, tools=tools)``.

Example:
    >>> pick_template({"default": "...", "tool_use": "..."}, has_tools=True)
    'tool_use'
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from ..errors import RowError, TemplateError
from ..records.detect import detect_format
from ..records.dispatch import to_conversation
from ..tokens.batch import Batch
from .schema import OUTPUT_COLUMNS, assemble, output, whole

logger = logging.getLogger("hf_sftprep")


def pick_template(templates: Mapping[str, str], has_tools: bool) -> str:
    """The name transformers' ``get_chat_template`` picks for a conversation with or without tools."""
    if has_tools and "tool_use" in templates:
        return "tool_use"
    if "default" in templates:
        return "default"
    raise TemplateError(
        f"the tokenizer's chat templates are named {', '.join(templates)}, with no 'default' one for "
        "conversations without tools. Set tokenizer.chat_template to one of them."
    )


def routable_names(templates: Mapping[str, str]) -> list[str]:
    """The named templates a row can be rendered with (``rag`` and others need ``documents``)."""
    return [name for name in ("default", "tool_use") if name in templates]


def route_rows(outer, batch: Mapping[str, list], rows: list[int], fmt: str) -> dict[str, list[int]]:
    """Batch positions per template name, by whether each row's normalized record has tools."""
    groups: dict[str, list[int]] = {}
    columns = list(batch)
    options = outer.options
    for i, row in enumerate(rows):
        try:
            record = {c: batch[c][i] for c in columns}
            conv = to_conversation(fmt, row, record, role_map=options.role_map, column_map=options.column_map)
            has_tools = conv.tools is not None  # transformers picks tool_use for tools=[] too
        except RowError:
            has_tools = False  # the chosen preprocessor reports the same error for the row
        groups.setdefault(pick_template(outer.templates, has_tools), []).append(i)
    return groups


def share_encoder(pre, encoder) -> None:
    """Give ``pre`` and each of its named templates' preprocessors the one ``encoder``. prepare() plans the
    backend on the dataset's row count once, for all of them: each named preprocessor's own encoder, never
    planned, built fastokens on its first batch (seconds holding the GIL) on a 50-row dataset whose report
    said it was too small to build it."""
    pre.encoder = encoder
    for named in (pre.named or {}).values():
        named.encoder = encoder


def merge_tables(parts: list[tuple[list[int], pa.Table]], n: int) -> pa.Table:
    """One table in batch order from per-template tables of the given batch positions."""
    order = np.concatenate([np.asarray(pos, dtype=np.int64) for pos, _ in parts])
    table = pa.concat_tables([t for _, t in parts])
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    return table.take(pa.array(inverse))


def sub_batch(batch: Mapping[str, list], positions: list[int]) -> dict[str, list]:
    return {c: [values[i] for i in positions] for c, values in batch.items()}


def process_named(pre, records: Mapping[str, list], rows: list[int]):
    """Each row prepared with the named template transformers picks for it, in batch order."""
    n = len(rows)
    fmt = detect_format(list(records.keys()), pre.options.format, pre.options.column_map)
    groups = route_rows(pre, records, rows, fmt)
    parts = [
        (pos, _unprobed(pre, name, [rows[i] for i in pos]) if name in pre.named_errors
         else pre.named[name].process(sub_batch(records, pos), [rows[i] for i in pos]))
        for name, pos in groups.items()
    ]
    table = merge_tables(parts, n) if parts else pre.named[pick_template(pre.templates, False)].process(records, rows)
    if pre.options.emit_meta:
        return table
    reasons = table.column("drop_reason").to_pylist()
    dropped = [r for r in reasons if r]
    if dropped:
        logger.warning("dropped %d of %d rows in this batch: %s", len(dropped), n, dict(Counter(dropped)))
    kept = table.filter(pa.array([not r for r in reasons]))
    return output({name: whole(kept.column(name)) for name in OUTPUT_COLUMNS}, False)


def _unprobed(pre, name: str, rows: list[int]) -> pa.Table:
    """Rows whose named template could not be probed: refused (placeholders in drop mode)."""
    err = RowError(
        rows[0],
        "template_error",
        f"the row has tools, so transformers renders it with the named chat template {name!r}, which could "
        f"not be probed: {pre.named_errors[name]} Fix or remove that template, or drop such rows with "
        "on_invalid='drop'.",
    )
    if pre.options.on_invalid == "error":
        raise err
    batch = Batch(rows, strict=False, dropped=dict.fromkeys(range(len(rows)), err.reason))
    return output(assemble(batch, True), True)
