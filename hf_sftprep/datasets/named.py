"""Named chat templates (a dict ``chat_template``: ``default``, ``tool_use``, ``rag``), row by row.

transformers renders a conversation with ``tool_use`` when ``tools`` are given and the tokenizer has
one, else with ``default``. Each template a row can pick is probed on its own, each row is prepared
by the preprocessor of the template transformers would pick for it, and the batch is put back
together in the input order, so ids equal ``apply_chat_template(messages, tools=tools)``.

Example:
    >>> pick_template({"default": "...", "tool_use": "..."}, has_tools=True)
    'tool_use'
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from ..errors import RowError, TemplateError
from ..records.dispatch import to_conversation


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
            has_tools = bool(conv.tools)
        except RowError:
            has_tools = False  # the chosen preprocessor reports the same error for the row
        groups.setdefault(pick_template(outer.templates, has_tools), []).append(i)
    return groups


def merge_tables(parts: list[tuple[list[int], pa.Table]], n: int) -> pa.Table:
    """One table in batch order from per-template tables of the given batch positions."""
    order = np.concatenate([np.asarray(pos, dtype=np.int64) for pos, _ in parts])
    table = pa.concat_tables([t for _, t in parts])
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    return table.take(pa.array(inverse))


def sub_batch(batch: Mapping[str, list], positions: list[int]) -> dict[str, list]:
    return {c: [values[i] for i in positions] for c, values in batch.items()}
