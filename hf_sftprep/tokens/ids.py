"""Token ids of texts as one Arrow ``int32`` list column, through the verified fast backend or HF."""

from __future__ import annotations

import pyarrow as pa


def encode_ids(tokenizer, texts: list[str], encoder=None) -> pa.ListArray:
    """Ids of ``texts`` (no special tokens added) as one Arrow list column.

    ``encoder`` (a :class:`~hf_sftprep.tokens.fast_backend.Encoder`) picks the verified fast backend when
    there is one; without it the HF backend encodes (:func:`hf_ids`). The ids are identical either way.

    Example (SmolLM2):
        >>> encode_ids(tok, ["hi", "hello there"]).to_pylist()
        [[6004], [28120, 665]]
    """
    return encoder(texts) if encoder is not None else hf_ids(tokenizer, texts)


def hf_ids(tokenizer, texts: list[str]) -> pa.ListArray:
    """The HF backend's ids of ``texts`` (no special tokens added) as one Arrow list column.

    Calls the Rust backend's ``encode_batch_fast`` (no offsets computed, no per-row dicts built): 0.29 s vs
    0.42 s through ``tokenizer(texts)`` for 2,000 chats (~580k Llama 3 tokens), ids identical. Used only when
    the backend has no truncation or padding of its own configured (the Python wrapper turns those off per
    call; calling the backend directly would apply them), else the wrapper is called.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    fast = getattr(backend, "encode_batch_fast", None)
    if fast is not None and backend.truncation is None and backend.padding is None:
        ids = [e.ids for e in fast(texts, add_special_tokens=False)]
    else:
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return pa.array(ids, type=pa.list_(pa.int32()))
