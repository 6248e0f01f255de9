"""What both peer readers share: reading the config file, one error prefix, and the batched map function
that rewrites a peer's rows as OpenAI ``messages`` records (plus a ``tools`` JSON string) before
:func:`~hf_sftprep.datasets.prepare.prepare` labels them on the usual verified path."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from ...errors import RowError, SFTPrepError
from ...records.formats import REFUSED


def peer_error(peer: str, where: str, message: str) -> SFTPrepError:
    return SFTPrepError(f"{peer}: {where}{message}")


def read_config(peer: str, path: str | Path) -> dict:
    """A YAML (Axolotl) or JSON (LLaMA-Factory) file as a dict; one line naming the file when it is not one."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise SFTPrepError(f"{peer}: {str(path)!r}: no such file; pass the config file itself.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))  # YAML reads JSON too
    except yaml.YAMLError as err:
        raise SFTPrepError(f"{peer}: {str(path)!r}: not valid YAML or JSON ({' '.join(str(err).split())}).") from None
    if not isinstance(data, dict):
        raise SFTPrepError(f"{peer}: {str(path)!r}: holds a {type(data).__name__}; expected a mapping.")
    return data


def check_size(peer: str, key: str, size: object) -> None:
    """A test split size: a fraction in (0, 1) or a row count >= 1 (None: no split)."""
    if size is not None and (isinstance(size, bool) or not isinstance(size, (int, float)) or size <= 0
                             or (isinstance(size, float) and size >= 1)):
        raise SFTPrepError(f"{peer}: {key}: {size!r} is neither a fraction in (0, 1) nor a row count >= 1.")


def tools_text(row: int, column: str, value: object) -> str | None:
    """A tools cell as a JSON string (Arrow keeps one type for every row; records/tool_calls.py parses it)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (list, Mapping)):
        return json.dumps(value, ensure_ascii=False)
    raise RowError(row, "bad_tools", f"field {column!r} is a {type(value).__name__}; expected a list of tool "
                                     "schemas or a JSON string. Fix it, or drop such rows with on_invalid='drop'.")


class PeerRows:
    """Batched ``Dataset.map`` function (``with_indices=True``): a peer's rows -> ``messages`` + ``tools``.

    Subclasses define ``convert(row, record) -> (messages, tools_json | None)``, raising ``RowError`` for a row
    the peer's layout cannot describe. With ``on_invalid='drop'`` such a row gets ``messages: None`` and its
    reason in the ``REFUSED`` column, which the record layer raises again (``records/dispatch.py``): the row is
    dropped and counted under its own reason, like any bad row.
    """

    on_invalid: str = "error"

    def convert(self, row: int, record: Mapping) -> tuple[list[dict], str | None]:
        raise NotImplementedError

    def __call__(self, batch: dict, indices: list[int]) -> dict:
        messages, tools, refused = [], [], []
        for k, row in enumerate(indices):
            record = {c: batch[c][k] for c in batch}
            why = None
            try:
                m, t = self.convert(row, record)
            except RowError as err:
                if self.on_invalid == "error":
                    raise
                m, t, why = None, None, f"{err.reason}\t{err.detail}"
            messages.append(m)
            tools.append(t)
            refused.append(why)
        return {"messages": messages, "tools": tools, REFUSED: refused}

    def apply(self, raw, name: str):
        """The source's rows rewritten (every original column is replaced)."""
        return raw.map(self, batched=True, with_indices=True, remove_columns=raw.column_names,
                       desc=f"hf_sftprep [{name}]: {type(self).__name__}")
