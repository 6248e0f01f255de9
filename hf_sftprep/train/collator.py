"""SFTDataCollator: pads prepared rows (or flattens them, padding-free) into model inputs.

Labels come from the prepared dataset and are never recomputed from ``input_ids``,
so an EOS that equals the pad token stays trained.
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import SFTPrepError
from ..options import ReturnTensors, check_choice
from ..tokens.masking import IGNORE_INDEX

logger = logging.getLogger("hf_sftprep")


def _pad_id(tokenizer) -> int:
    if tokenizer.pad_token_id is not None:
        return tokenizer.pad_token_id
    if tokenizer.eos_token_id is not None:
        # Padding positions carry attention_mask 0 and label -100, so the id itself is never seen or trained.
        logger.info("tokenizer has no pad token; padding input_ids with the EOS id %d", tokenizer.eos_token_id)
        return tokenizer.eos_token_id
    raise SFTPrepError("the tokenizer has neither a pad token nor an EOS token; set tokenizer.pad_token.")


def _validate(features: list[dict]) -> list[np.ndarray]:
    """Check each item and return its sequence lengths (``seq_lengths`` for a pack, else its length)."""
    if not features:
        raise SFTPrepError("the batch is empty (0 items); the sampler or DataLoader gave the collator no rows.")
    seqs = []
    for k, f in enumerate(features):
        if "input_ids" not in f or "labels" not in f:
            raise SFTPrepError(
                f"batch item {k} has keys {sorted(f)}; expected 'input_ids' and 'labels'. "
                "Prepare the dataset with hf_sftprep.prepare() first."
            )
        n, m = len(f["input_ids"]), len(f["labels"])
        if n != m:
            raise SFTPrepError(
                f"batch item {k}: labels has {m} tokens but input_ids has {n}; they must line up one to one "
                "(rows from hf_sftprep.prepare() always do)."
            )
        if n == 0:
            raise SFTPrepError(f"batch item {k} has no tokens; filter out empty rows before training.")
        lengths = np.asarray(f.get("seq_lengths", [n]), dtype=np.int64)
        if lengths.sum() != n or (lengths < 1).any():
            raise SFTPrepError(
                f"batch item {k}: seq_lengths {lengths.tolist()} sum to {int(lengths.sum())} but input_ids has {n} "
                "tokens; each sequence must have at least one token. Build packs with hf_sftprep.pack()."
            )
        seqs.append(lengths)
    return seqs


def _restart(labels: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels with each sequence's first label -100, and position_ids restarting at 0 per sequence."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    labels = labels.copy()
    labels[starts] = IGNORE_INDEX  # no loss across the boundary between two sequences
    return labels, np.arange(len(labels)) - np.repeat(starts, lengths)


class SFTDataCollator:
    """Batch prepared rows for a causal LM.

    Args:
        tokenizer: gives the pad id (the EOS id when there is no pad token).
        pad_to_multiple_of: round the padded length up to a multiple of this, only when needed.
        padding_free: concatenate the batch into one row with ``position_ids`` restarting at 0 per
            sequence (the form transformers' flash-attention / SDPA packed paths detect), plus
            ``cu_seq_lens_q/k`` and ``max_length_q/k``, and ``use_cache=False`` (the packed-sequence
            detection is skipped when a KV cache is live). The first label of every sequence is -100.
        return_tensors: "pt" (torch) or "np".

    Rows from :func:`hf_sftprep.pack` carry ``seq_lengths``: their sequences get ``position_ids``
    that restart at 0 and a first label of -100. Padding-free, every sequence of every pack goes into
    the one row (with ``cu_seq_lens_*``); otherwise each pack is a row, padded to the longest pack,
    without ``attention_mask`` (see ``_pad_packed``).

    Example:
        >>> SFTDataCollator(tok, return_tensors="np")([{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]},
        ...                                            {"input_ids": [8], "labels": [8]}])["labels"]
        array([[-100,    6,    7],
               [   8, -100, -100]])
    """

    def __init__(self, tokenizer, pad_to_multiple_of: int | None = None, padding_free: bool = False, return_tensors: str = "pt"):
        check_choice("return_tensors", return_tensors, ReturnTensors)
        if pad_to_multiple_of is not None and pad_to_multiple_of < 1:
            raise SFTPrepError(f"pad_to_multiple_of={pad_to_multiple_of!r}; expected a positive int or None.")
        self.pad_id = _pad_id(tokenizer)
        self.pad_to_multiple_of = pad_to_multiple_of
        self.padding_free = padding_free
        self.return_tensors = return_tensors

    def __call__(self, features: list[dict]) -> dict:
        seqs = _validate(features)
        ids = [np.asarray(f["input_ids"], dtype=np.int64) for f in features]
        labels = [np.asarray(f["labels"], dtype=np.int64) for f in features]
        if self.padding_free:
            out = self._flatten(ids, labels, np.concatenate(seqs))
        elif any("seq_lengths" in f for f in features):
            out = self._pad_packed(ids, labels, seqs)
        else:
            out = self._pad(ids, labels)
        if self.return_tensors == "pt":
            import torch

            out = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in out.items()}
        return out

    def _target_length(self, n: int) -> int:
        m = self.pad_to_multiple_of
        return n if m is None else -(-n // m) * m

    def _pad(self, ids, labels) -> dict:
        lengths = np.array([len(x) for x in ids])
        width = self._target_length(int(lengths.max()) if len(lengths) else 0)
        input_ids = np.full((len(ids), width), self.pad_id, dtype=np.int64)
        out_labels = np.full((len(ids), width), IGNORE_INDEX, dtype=np.int64)
        mask = np.arange(width)[None, :] < lengths[:, None]
        input_ids[mask] = np.concatenate(ids) if ids else []
        out_labels[mask] = np.concatenate(labels) if labels else []
        return {"input_ids": input_ids, "labels": out_labels, "attention_mask": mask.astype(np.int64)}

    def _flatten(self, ids, labels, lengths: np.ndarray) -> dict:
        flat_ids = np.concatenate(ids)
        flat_labels, position_ids = _restart(np.concatenate(labels), lengths)
        total = self._target_length(len(flat_ids))
        if total > len(flat_ids):  # one trailing filler sequence, fully masked
            extra = total - len(flat_ids)
            flat_ids = np.concatenate([flat_ids, np.full(extra, self.pad_id)])
            flat_labels = np.concatenate([flat_labels, np.full(extra, IGNORE_INDEX)])
            position_ids = np.concatenate([position_ids, np.arange(extra)])
            lengths = np.concatenate([lengths, [extra]])
        cu = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        return {
            "input_ids": flat_ids[None, :],
            "labels": flat_labels[None, :],
            "position_ids": position_ids[None, :],
            "cu_seq_lens_q": cu,
            "cu_seq_lens_k": cu,
            "max_length_q": int(lengths.max()),
            "max_length_k": int(lengths.max()),
            # transformers only detects packed position_ids when no KV cache is live; with the default
            # use_cache=True a training forward builds one and sequences attend across boundaries.
            "use_cache": False,
        }

    def _pad_packed(self, ids, labels, seqs: list[np.ndarray]) -> dict:
        """Packs as rows of one batch: positions restart per sequence, no attention_mask.

        transformers (5.x) reads packed sequences from ``position_ids`` only when ``attention_mask``
        is None (SDPA and eager build a block-diagonal mask from them), so the mask is left out; the
        padded tail is one more sequence whose labels are all -100.
        """
        out = self._pad(ids, labels)
        width = out["input_ids"].shape[1]
        position_ids = np.zeros((len(ids), width), dtype=np.int64)
        for k, lengths in enumerate(seqs):
            n = len(ids[k])
            out["labels"][k, :n], position_ids[k, :n] = _restart(labels[k], lengths)
            position_ids[k, n:] = np.arange(width - n)
        del out["attention_mask"]
        return {**out, "position_ids": position_ids, "use_cache": False}
