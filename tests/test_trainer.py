"""build_trainer on a tiny random Llama (fast) and on the real SmolLM2-135M-Instruct (marked real_model)."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset

from hf_sftprep import SFTDataCollator, SFTPrepError, build_trainer, generation_prompts, prepare
from helpers import DEMO_CHAT, tiny_llama

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("trl")



def chats(n: int) -> Dataset:
    rows = [json.loads(line) for line in DEMO_CHAT.read_text().splitlines()[:n]]
    return Dataset.from_list(rows)


def losses(trainer) -> list[float]:
    return [h["loss"] for h in trainer.state.log_history if "loss" in h]


def sft_args(tmp_path, steps: int, lr: float, batch: int = 4):
    from trl import SFTConfig

    return SFTConfig(output_dir=str(tmp_path / "out"), max_steps=steps, per_device_train_batch_size=batch,
                     learning_rate=lr, logging_steps=1, report_to="none", save_strategy="no", seed=0,
                     lr_scheduler_type="constant", use_cpu=True, gradient_checkpointing=False, bf16=False)


def test_padding_free_logits_equal_padded(smollm):
    model = tiny_llama(len(smollm)).eval()
    ds = prepare(chats(3), smollm)
    rows = [ds[i] for i in range(3)]
    padded = SFTDataCollator(smollm)(rows)
    flat = SFTDataCollator(smollm, padding_free=True)(rows)
    with torch.no_grad():
        a = model(input_ids=padded["input_ids"], attention_mask=padded["attention_mask"]).logits
        b = model(**{k: v for k, v in flat.items() if k != "labels"}).logits
        model.train()  # a training-mode forward must not leak attention across sequences either
        c = model(**{k: v for k, v in flat.items() if k != "labels"}).logits
    start = 0
    for i, row in enumerate(rows):
        n = len(row["input_ids"])
        torch.testing.assert_close(b[0, start : start + n], a[i, :n], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(c[0, start : start + n], a[i, :n], atol=1e-4, rtol=1e-4)
        start += n


@pytest.mark.parametrize("use_trl,padding_free,packing", [
    (True, False, None), (True, True, None), (False, False, None), (True, False, 128), (False, True, 128),
])
def test_tiny_llama_loss_falls(smollm, tmp_path, use_trl, padding_free, packing):
    """Full fine-tuning of a tiny random Llama (LoRA on a random model barely moves): the loss must fall."""
    ds = prepare(chats(16), smollm, max_length=64)
    model = tiny_llama(len(smollm))
    args = sft_args(tmp_path, steps=20, lr=3e-3)
    if not use_trl:
        args = transformers.TrainingArguments(**{k: getattr(args, k) for k in (
            "output_dir", "max_steps", "per_device_train_batch_size", "learning_rate", "logging_steps",
            "report_to", "save_strategy", "seed", "lr_scheduler_type", "use_cpu", "gradient_checkpointing", "bf16")})
    trainer = build_trainer(model, smollm, ds, args=args, use_trl=use_trl, padding_free=padding_free, lora=False,
                            packing=packing)
    if packing:
        assert "seq_lengths" in trainer.train_dataset.column_names and max(trainer.train_dataset["length"]) <= packing
    trainer.train()
    curve = losses(trainer)
    assert len(curve) == 20
    first, last = sum(curve[:3]) / 3, sum(curve[-3:]) / 3
    assert last < 0.8 * first, curve


@pytest.mark.parametrize("use_trl", [True, False])
def test_default_lora_config(smollm, tmp_path, use_trl):
    ds = prepare(chats(4), smollm)
    trainer = build_trainer(tiny_llama(len(smollm)), smollm, ds, args=sft_args(tmp_path, 1, 1e-3), use_trl=use_trl)
    cfg = trainer.model.peft_config["default"]
    assert (cfg.r, cfg.lora_alpha, cfg.lora_dropout, sorted(cfg.target_modules)) == (8, 32, 0.1, ["q_proj", "v_proj"])
    trainable = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert isinstance(trainer.data_collator, SFTDataCollator)
    assert trainer.args.remove_unused_columns is False
    if use_trl:
        assert trainer.args.dataset_kwargs["skip_prepare_dataset"] is True


def test_refusals(smollm):
    model = tiny_llama(len(smollm))
    with pytest.raises(SFTPrepError, match=r"train_dataset lacks columns \['input_ids', 'labels'\]"):
        build_trainer(model, smollm, chats(4))
    long = Dataset.from_dict({"input_ids": [[1] * 2000], "labels": [[1] * 2000], "length": [2000]})
    with pytest.raises(SFTPrepError, match=r"a row of 2000 tokens but the model's context is 1024.*max_length=1024"):
        build_trainer(model, smollm, long)


def test_streamed_prepare_trains(smollm, tmp_path):
    """Issue 15 item 9: a streamed prepare() result trains with max_steps (it used to be refused as unprepared)."""
    stream = prepare(chats(8).to_iterable_dataset(), smollm, max_length=64)
    trainer = build_trainer(tiny_llama(len(smollm)), smollm, stream, args=sft_args(tmp_path, steps=2, lr=1e-3, batch=2),
                            lora=False)
    trainer.train()
    assert len(losses(trainer)) == 2


def test_streamed_refusals(smollm, tmp_path):
    stream = prepare(chats(4).to_iterable_dataset(), smollm, max_length=64)
    model = tiny_llama(len(smollm))
    with pytest.raises(SFTPrepError, match=r"streamed IterableDataset, which has no length.*max_steps"):
        build_trainer(model, smollm, stream)
    with pytest.raises(SFTPrepError, match=r"packing=64 needs every row's length, but train_dataset is a streamed"):
        build_trainer(model, smollm, stream, args=sft_args(tmp_path, 2, 1e-3), packing=64)
    raw_stream = chats(4).to_iterable_dataset()
    with pytest.raises(SFTPrepError, match=r"train_dataset lacks columns \['input_ids', 'labels'\] \(found \['messages'"):
        build_trainer(model, smollm, raw_stream, args=sft_args(tmp_path, 2, 1e-3))


def test_packing_refuses_long_rows(smollm, tmp_path):
    ds = prepare(chats(4), smollm)
    with pytest.raises(SFTPrepError, match=r"tokens, more than seq_length=16 .*max_length=16"):
        build_trainer(tiny_llama(len(smollm)), smollm, ds, args=sft_args(tmp_path, 1, 1e-3), packing=16)


@pytest.mark.real_model
def test_real_smollm2_lora(smollm_checkpoint, tmp_path):
    """LoRA on the real SmolLM2-135M-Instruct: loss falls, the adapter reloads to identical logits, generate works."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smollm_checkpoint)
    raw = chats(9)
    split = raw.train_test_split(test_size=1, seed=0)
    ds = prepare(split["train"], tok, max_length=192)
    model = AutoModelForCausalLM.from_pretrained(smollm_checkpoint)
    trainer = build_trainer(model, tok, ds, args=sft_args(tmp_path, steps=12, lr=2e-3, batch=2))
    assert trainer.train_dataset.column_names == ["input_ids", "labels", "length"]
    trainer.train()
    curve = losses(trainer)
    print("real SmolLM2 LoRA loss curve:", [round(x, 3) for x in curve])
    assert sum(curve[-4:]) / 4 < 0.7 * sum(curve[:4]) / 4, curve

    adapter = tmp_path / "adapter"
    trainer.model.save_pretrained(adapter)
    batch = SFTDataCollator(tok)([ds[0]])
    # the trainer's model.forward is wrapped by accelerate (autocast); compare the plain module
    trained = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False).eval()
    reloaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(smollm_checkpoint), adapter).eval()
    with torch.no_grad():
        a = trained(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        b = reloaded(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)

    prompt = generation_prompts(split["test"], tok)[0]["prompt"]
    enc = tok(prompt, add_special_tokens=False, return_tensors="pt")
    with torch.no_grad():
        gen = reloaded.generate(**enc, max_new_tokens=20, do_sample=False)
    text = tok.decode(gen[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    print("generated:", repr(text))
    assert text.strip()
