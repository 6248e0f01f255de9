"""build_trainer: LoRA fine-tuning on a prepared dataset with TRL's SFTTrainer or transformers' Trainer.

torch, peft and trl are imported inside, so the core package works without the ``train`` extra.
"""

from __future__ import annotations

from datasets import IterableDataset

from .collator import SFTDataCollator
from ..datasets.pack import pack
from ..errors import SFTPrepError

EXTRA_HINT = "Install the training extra: pip install 'hf-sftprep[train]'"


def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"build_trainer needs {module.split('.')[0]} ({err}). {EXTRA_HINT}") from err


def default_lora():
    """LoRA r=8, alpha=32, dropout 0.1 on q_proj/v_proj."""
    peft = _require("peft")
    return peft.LoraConfig(r=8, lora_alpha=32, lora_dropout=0.1, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")


def _columns(dataset) -> list[str]:
    """Column names; a streamed dataset whose features are not declared is asked for its first row."""
    cols = getattr(dataset, "column_names", None)
    if cols is None and isinstance(dataset, IterableDataset):
        first = next(iter(dataset), None)  # prepares one batch of the stream
        cols = list(first) if first is not None else []
    return list(cols or [])


def check_dataset(dataset, model, name: str = "train_dataset") -> None:
    """Refuse a dataset without ``input_ids``/``labels`` or with rows longer than the model's context.

    A streamed dataset is checked for its columns only: its row lengths are not known before training
    (``prepare(stream, tok, max_length=...)`` bounds them).
    """
    if dataset is None:
        return
    cols = _columns(dataset)
    missing = [c for c in ("input_ids", "labels") if c not in cols]
    if missing:
        raise SFTPrepError(
            f"{name} lacks columns {missing} (found {cols}); expected a dataset from hf_sftprep.prepare(). "
            "Run prepare(raw, tokenizer) first."
        )
    if isinstance(dataset, IterableDataset):
        return
    if len(dataset) == 0:
        raise SFTPrepError(
            f"{name} has 0 rows, so there is nothing to train on. prepare() drops the rows it cannot train on and "
            "logs the count ('hf_sftprep dropped N of N rows: ...'; prepare(..., return_report=True) returns it "
            "as report.dropped). For too_long or no_trained_tokens, raise max_length (or pass "
            "truncation_side='left' to keep each row's end); otherwise fix the data."
        )
    context = getattr(model.config, "max_position_embeddings", None)
    longest = max(dataset["length"]) if "length" in cols and len(dataset) else 0
    if context and longest > context:
        raise SFTPrepError(
            f"{name} holds a row of {longest} tokens but the model's context is {context} "
            "(config.max_position_embeddings). Re-run prepare(..., max_length=" + str(context) + ")."
        )


def _default_args(use_trl: bool, output_dir: str):
    import torch

    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    common = dict(
        output_dir=output_dir,
        per_device_train_batch_size=4,
        learning_rate=2e-4,
        num_train_epochs=1,
        logging_steps=1,
        report_to="none",
        bf16=bf16,  # explicit: TRL's SFTConfig defaults to bf16, which on CPU is autocast and several times slower
        train_sampling_strategy="group_by_length",
        save_strategy="no",
    )
    if use_trl:
        return _require("trl").SFTConfig(**common)
    return _require("transformers").TrainingArguments(**common)


def _check_stream(dataset, args, packing) -> None:
    if not isinstance(dataset, IterableDataset):
        return
    if packing:
        raise SFTPrepError(
            f"packing={packing} needs every row's length, but train_dataset is a streamed IterableDataset. "
            "Prepare a Dataset (not streaming=True), or train the stream unpacked (padding_free=True avoids padding)."
        )
    if (getattr(args, "max_steps", -1) or -1) <= 0:
        raise SFTPrepError(
            "train_dataset is a streamed IterableDataset, which has no length, so the number of steps is unknown; "
            "pass args with max_steps set, e.g. SFTConfig(output_dir='out', max_steps=1000)."
        )


def build_trainer(
    model,
    tokenizer,
    train_dataset,
    *,
    lora=None,
    args=None,
    eval_dataset=None,
    padding_free: bool = False,
    packing: int | None = None,
    pad_to_multiple_of: int | None = None,
    use_trl: bool = True,
    output_dir: str = "sftprep-out",
):
    """A trainer for LoRA SFT on a dataset from :func:`hf_sftprep.prepare`.

    Args:
        model: a causal LM (``AutoModelForCausalLM``).
        tokenizer: the tokenizer the dataset was prepared with.
        train_dataset, eval_dataset: prepared datasets (``input_ids``, ``labels``, ``length``).
        lora: a ``peft.LoraConfig``; None gives r=8, alpha=32, dropout 0.1 on q_proj/v_proj;
            False trains the full model.
        args: an ``SFTConfig`` (TRL) or ``TrainingArguments``; None gives batch 4, lr 2e-4, one
            epoch, length-grouped batches, bf16 on a GPU that supports it.
        padding_free: flatten each batch (needs an attention implementation that honours
            packed ``position_ids``: flash-attention, or SDPA/eager in transformers >= 4.54).
        packing: pack ``train_dataset`` into sequences of this many tokens with
            :func:`hf_sftprep.pack` (cached; eval_dataset stays unpacked, so eval loss is per row).
            Each batch row is then a pack whose ``position_ids`` restart per sequence.
        use_trl: TRL's SFTTrainer (default) or a plain transformers Trainer.

    A streamed ``train_dataset`` (``prepare()`` of an ``IterableDataset``) is supported when
    ``args.max_steps`` is set: the stream has no length, so epochs cannot be counted.

    Example (``model`` an ``AutoModelForCausalLM``):
        >>> trainer = build_trainer(model, tok, prepare(raw, tok, max_length=1024))
        >>> trainer.args.per_device_train_batch_size, trainer.args.learning_rate, trainer.args.num_train_epochs
        (4, 0.0002, 1)
        >>> trainer.train()  # doctest: +SKIP
    """
    args = args if args is not None else _default_args(use_trl, output_dir)
    _check_stream(train_dataset, args, packing)
    if packing:
        train_dataset = pack(train_dataset, packing, seed=args.seed)
    check_dataset(train_dataset, model)
    check_dataset(eval_dataset, model, "eval_dataset")
    lora = default_lora() if lora is None else lora
    args.remove_unused_columns = False  # keep 'labels' and 'length' for our collator and the length sampler
    common = dict(
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        data_collator=SFTDataCollator(tokenizer, pad_to_multiple_of=pad_to_multiple_of, padding_free=padding_free),
    )
    if use_trl:
        # Otherwise TRL re-tokenizes and re-truncates the prepared rows.
        args.dataset_kwargs = {**(getattr(args, "dataset_kwargs", None) or {}), "skip_prepare_dataset": True}
        return _require("trl").SFTTrainer(model=model, peft_config=lora or None, **common)
    if lora:
        model = _require("peft").get_peft_model(model, lora)
    return _require("transformers").Trainer(model=model, **common)
