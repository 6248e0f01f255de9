"""Rendering alone: apply_chat_template vs rendering the compiled template directly, side by side in one process.

    python benchmarks/render.py               # 2,000 corpus chats, Llama 3 and Qwen2.5, 7 interleaved repeats
    python benchmarks/render.py --rows 200 --repeats 2

Methods, all on the same chats (`benchmarks/corpus.py`), all checked to give the same text as
apply_chat_template before timing:

- **apply_chat_template**: `tok.apply_chat_template(messages, tokenize=False)`, what the floor and TRL call;
- **render_jinja_template**: transformers' function behind it, called directly (skips the tokenizer's wrapper);
- **bare compiled render**: `compiled.render(messages=...)` with no input conversion at all: the fastest
  possible direct call, not faithful (it skips the None-key drop, the reasoning alias and the plain-data rebuild);
- **bare render, VerdictSandbox**: the same bare call on the template compiled in `templates/sandbox.py`'s
  `VerdictSandbox` (transformers' sandbox with plain-dict attributes and attribute verdicts answered without
  the per-access cost): the sandbox change alone;
- **Renderer**: `hf_sftprep.templates.render.Renderer`, what `prepare()` calls per row: the template in the
  `VerdictSandbox`, apply_chat_template's conversions done only where they change the input, its first 32
  renders checked.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def methods(tok) -> dict:
    from transformers.utils.chat_template_utils import _compile_jinja_template, render_jinja_template

    from hf_sftprep.templates.render import Renderer
    from hf_sftprep.templates.sandbox import sandboxed_like

    template = tok.get_chat_template()
    compiled = _compile_jinja_template(template)
    specials = dict(tok.special_tokens_map)
    renderer = Renderer(tok)
    verdict = sandboxed_like(compiled, template)
    return {
        "apply_chat_template": lambda m: tok.apply_chat_template(m, tokenize=False),
        "render_jinja_template": lambda m: render_jinja_template(
            conversations=[m], chat_template=template, **tok.special_tokens_map)[0][0],
        "bare compiled render": lambda m: compiled.render(messages=m, tools=None, documents=None,
                                                          add_generation_prompt=False, **specials),
        "bare render, VerdictSandbox": lambda m: verdict.render(messages=m, tools=None, documents=None,
                                                               add_generation_prompt=False, **specials),
        "Renderer": lambda m: renderer(m),
    }


def main(argv=None) -> None:
    import corpus

    from hf_sftprep.testing import offline

    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--work", default=str(HERE / "results" / "work" / "tokenizers"))
    args = p.parse_args(argv)
    chats = [r["messages"] for r in corpus.chats(args.rows, seed=1)]
    print("| tokenizer | method | ms per 1,000 chats (median) | min | speed vs apply_chat_template |")
    print("|---|---|---|---|---|")
    for name, build in (("llama3", offline.llama3_tokenizer), ("qwen2_5", offline.qwen2_5_tokenizer)):
        tok = build(Path(args.work))
        fns = methods(tok)
        want = [fns["apply_chat_template"](m) for m in chats]
        for label, fn in fns.items():
            if [fn(m) for m in chats] != want:
                raise SystemExit(f"{label} renders different text than apply_chat_template on {name}")
        runs = {label: [] for label in fns}
        for _ in range(args.repeats):
            for label, fn in fns.items():  # interleaved, so load on the shared machine hits every method
                start = time.perf_counter()
                for m in chats:
                    fn(m)
                runs[label].append((time.perf_counter() - start) * 1000 * 1000 / len(chats))
        base = statistics.median(runs["apply_chat_template"])
        for label, ms in runs.items():
            med = statistics.median(ms)
            print(f"| {name} | {label} | {med:.0f} | {min(ms):.0f} | {base / med:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
