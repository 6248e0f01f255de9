"""The preparation methods compared side by side. Each returns the prepared dataset."""

from __future__ import annotations

import pyarrow as pa
from datasets import Features, List, Value

from hf_sftprep import prepare
from hf_sftprep.testing.offline import trl_template


class FloorMap:
    """The floor: render with the chat template and batch-tokenize into int32 Arrow; no masking."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, batch):
        texts = self.tokenizer.apply_chat_template(batch["messages"], tokenize=False)
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return pa.table({"input_ids": pa.array(ids, type=pa.list_(pa.int32()))})


def floor(tok, num_proc=None):
    return lambda raw: raw.map(FloorMap(tok), batched=True, num_proc=num_proc, remove_columns=raw.column_names,
                   features=Features({"input_ids": List(Value("int32"))}), load_from_cache_file=False)


def sftprep(tok, num_proc=None):
    return lambda raw: prepare(raw, tok, num_proc=num_proc, load_from_cache_file=False)


def sftprep_plain(tok, num_proc=None):
    """prepare() with piece deduplication off: the plain path, to price the deduplication."""
    return lambda raw: prepare(raw, tok, num_proc=num_proc, load_from_cache_file=False, dedupe_pieces=False)


def sftprep_hf(tok, num_proc=None):
    """prepare() with the HF tokenizer backend forced (what users get without the fast extra)."""
    return lambda raw: prepare(raw, tok, num_proc=num_proc, load_from_cache_file=False, backend="hf")


def sftprep_build(tok, num_proc=None):
    """prepare() with the default backend and the size threshold off: fastokens is built at every size (to
    measure where the build pays for itself)."""
    from hf_sftprep.tokens import fast_backend

    fast_backend.FAST_MIN_ROWS = 0
    return lambda raw: prepare(raw, tok, num_proc=num_proc, load_from_cache_file=False)


class _Warm:
    """A method timed on its second run in the same process (the first, untimed, pays the fixed costs: the
    fastokens build, the template probe, imports and compiled templates)."""

    def __init__(self, run):
        self.run = run

    def setup(self, raw):
        import datasets

        self.run(raw)
        # the timed run recomputes: TRL's maps would otherwise load the first run's cache (0.2 s for 20k rows)
        datasets.disable_caching()

    def __call__(self, raw):
        return self.run(raw)


def warm(factory):
    return lambda tok, num_proc=None: _Warm(factory(tok, num_proc))


class FastokensOnly:
    """The limit: fastokens alone encoding the rendered texts into an int32 Arrow column. The texts are rendered
    with ``apply_chat_template`` and fastokens is built before the timer (its build time is reported apart);
    nothing is masked, checked or written to disk."""

    def __init__(self, tok):
        self.tok = tok

    def setup(self, raw):
        import time

        import fastokens

        self.texts = self.tok.apply_chat_template(list(raw["messages"]), tokenize=False)
        start = time.perf_counter()
        self.fast = fastokens.Tokenizer.from_json_str(self.tok.backend_tokenizer.to_str())
        self.build_seconds = time.perf_counter() - start

    def __call__(self, raw):
        from datasets import Dataset

        from hf_sftprep.tokens.fast_backend import _fast_encode  # encode_batch_flat into int32 Arrow, as prepare() does

        return Dataset(pa.table({"input_ids": _fast_encode(self.fast, self.texts)}))


def fastokens_only(tok, num_proc=None):
    return FastokensOnly(tok)


TRL_TEMPLATES = {"<|eot_id|>": "llama3_training", "<|im_end|>": "qwen2_5_training"}


def trl(tok, num_proc=None):
    """TRL 1.16 SFTTrainer._prepare_dataset with assistant_only_loss=True and its Llama 3 training template.

    The trainer is built outside the timed call; only ``_prepare_dataset`` is timed."""
    import torch
    import transformers
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    tok = _clone(tok)
    tok.chat_template = trl_template(TRL_TEMPLATES[tok.eos_token] if tok.eos_token in TRL_TEMPLATES else "llama3_training")
    cfg = transformers.LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                   num_attention_heads=2, num_key_value_heads=1)
    torch.manual_seed(0)
    args = SFTConfig(output_dir="/tmp/trl-bench", assistant_only_loss=True, report_to="none", use_cpu=True,
                     dataset_num_proc=num_proc, max_length=None, bf16=False)
    tiny = Dataset.from_list([{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}] * 2)
    trainer = SFTTrainer(model=transformers.LlamaForCausalLM(cfg), args=args, train_dataset=tiny, processing_class=tok)
    return lambda raw: trainer._prepare_dataset(raw, tok, args, False, None, "train")


def _clone(tok):
    import copy

    return copy.deepcopy(tok)


def seed_collator_epoch(ids_rows: list[list[int]], header: list[int], end: int) -> int:
    """What a hand-written collator does every batch of every epoch: scan each row in Python for the
    assistant header, then label until the end token. Returns the trained-token count (to use the result)."""
    trained = 0
    k = len(header)
    for ids in ids_rows:
        labels = [-100] * len(ids)
        i = 0
        while i <= len(ids) - k:
            if ids[i : i + k] == header:
                j = i + k
                while j < len(ids) and ids[j] != end:
                    labels[j] = ids[j]
                    j += 1
                if j < len(ids):
                    labels[j] = end
                i = j
            i += 1
        trained += sum(1 for x in labels if x != -100)
    return trained


METHODS = {"floor": floor, "hf_sftprep": sftprep, "hf_sftprep_hf": sftprep_hf, "hf_sftprep_plain": sftprep_plain,
           "hf_sftprep_build": sftprep_build, "trl": trl, "fastokens_only": fastokens_only,
           "floor_warm": warm(floor), "hf_sftprep_warm": warm(sftprep), "trl_warm": warm(trl)}
