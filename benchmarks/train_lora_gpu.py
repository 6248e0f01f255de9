"""LoRA training throughput on a variable-length prepared dataset: padded vs length-grouped vs padding-free vs packed.

    python benchmarks/train_lora_gpu.py                       # SmolLM2-135M + a ~1B random Llama, on the GPU
    python benchmarks/train_lora_gpu.py --models tiny --steps 3 --device cpu   # a smoke run anywhere

Reports trained tokens per second (label != -100), step time and peak GPU memory, as a markdown table.
bf16 on a GPU that supports it. Padding-free uses SDPA with packed position_ids (see docs/training.md).
"packed" trains on hf_sftprep.pack(ds, max_length) rows, batch_size // 4 packs per step (one pack holds
several rows), each pack a batch row whose position_ids restart per sequence.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def load_model(name: str, vocab: int, cache: Path, device: str, dtype):
    import torch
    import transformers

    from hf_sftprep.testing import offline

    if name == "smollm2":
        model = transformers.AutoModelForCausalLM.from_pretrained(offline.smollm2_checkpoint(cache), dtype=dtype)
    else:
        sizes = {"tiny": (64, 128, 2, 4, 2), "llama1b": (2048, 8192, 16, 32, 8)}[name]
        hidden, inter, layers, heads, kv = sizes
        cfg = transformers.LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter,
                                       num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv,
                                       max_position_embeddings=4096, attn_implementation="sdpa")
        torch.manual_seed(0)
        model = transformers.LlamaForCausalLM(cfg).to(dtype)
    return model.to(device)


def batches(lengths: np.ndarray, batch_size: int, mode: str) -> list[list[int]]:
    from hf_sftprep import length_grouped_batches
    from hf_sftprep.train.batching import random_batches

    if mode == "grouped":
        return length_grouped_batches(lengths, batch_size, seed=0)
    return random_batches(len(lengths), batch_size, seed=0)


def run(model, ds, tok, mode: str, steps: int, batch_size: int, device: str, packed=None) -> dict:
    import torch
    from peft import get_peft_model

    from hf_sftprep import SFTDataCollator
    from hf_sftprep.train.trainer import default_lora

    peft_model = get_peft_model(model, default_lora())
    opt = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=2e-4)
    collate = SFTDataCollator(tok, padding_free=(mode == "padding_free"))
    if mode == "packed":
        ds, batch_size = packed, max(1, batch_size // 4)
    plan = batches(np.asarray(ds["length"]), batch_size, mode)[: steps + 2]
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    trained, times = 0, []
    for i, idx in enumerate(plan):
        batch = collate([ds[int(j)] for j in idx])
        batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = peft_model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= 2:  # two warm-up steps
            times.append(time.perf_counter() - start)
            trained += int((batch["labels"] != -100).sum())
    peft_model.unload()
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    return {"mode": mode, "step_s": float(np.mean(times)), "trained_tok_per_s": trained / sum(times), "peak_gib": peak}


def main(argv=None) -> None:
    import datasets
    import torch

    from hf_sftprep import pack, prepare
    from hf_sftprep.testing import offline

    p = argparse.ArgumentParser()
    p.add_argument("--models", default="smollm2,llama1b")
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=2048)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--cache", default=str(HERE / "results" / "work"))
    args = p.parse_args(argv)
    import corpus

    cache = Path(args.cache)
    tok = offline.smollm2_tokenizer(cache)
    raw = datasets.Dataset.from_list(corpus.chats(args.rows, turns=(1, 6)))
    ds = prepare(raw, tok, max_length=args.max_length)
    packed = pack(ds, args.max_length, seed=0)
    bf16 = args.device == "cuda" and torch.cuda.is_bf16_supported()
    dtype = torch.bfloat16 if bf16 else torch.float32
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    rows = []
    for name in args.models.split(","):
        for mode in ("padded", "grouped", "padding_free", "packed"):
            model = load_model(name, len(tok), cache, args.device, dtype)
            r = run(model, ds, tok, mode, args.steps, args.batch_size, args.device, packed)
            r.update(model=name)
            rows.append(r)
            print(json.dumps(r), flush=True)
            del model
            if args.device == "cuda":
                torch.cuda.empty_cache()
    print(f"\n{device_name}, dtype {dtype}, batch {args.batch_size}, {args.steps} timed steps, rows up to {args.max_length} tokens\n")
    print("| model | mode | step s | trained tok/s | peak GiB |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['mode']} | {r['step_s']:.3f} | {r['trained_tok_per_s']:,.0f} | {r['peak_gib']:.2f} |")


if __name__ == "__main__":
    main()
