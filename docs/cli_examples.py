"""Generate the command outputs shown in docs/cli.md, so that they never drift from what the commands print.

Every ```text block of docs/cli.md whose first line is ``$ hf-sftprep ...`` is a command: this script runs the
commands in order, in one folder laid out as the docs assume (``./smollm2_tokenizer``, the shipped demo
chats at ``hf_sftprep/data/demo_chat.jsonl``, and the recipe example's ``mix.yaml`` and its sources), and
puts each command's stdout under its ``$`` line.

    python docs/cli_examples.py --write     # rewrite docs/cli.md's outputs
    python docs/cli_examples.py --check     # exit 1, with a diff, when docs/cli.md is stale (what the test runs)
    python docs/cli_examples.py --folder DIR  # lay out DIR as the docs assume and stop
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import os
import re
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's hf_sftprep, not an installed one
DOC = ROOT / "docs" / "cli.md"
BLOCK = re.compile(r"```text\n(\$ hf-sftprep [^\n]*)\n(.*?)```", re.S)
RECIPE = re.compile(r"```yaml\ntokenizer: \./smollm2_tokenizer\n.*?```", re.S)


def lay_out(folder: Path, tokenizer_dir: Path | None = None) -> None:
    """The docs' working folder: the SmolLM2 tokenizer, the demo chats, and the recipe example's files."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import mixture  # benchmarks/mixture.py: the recipe example's sources and mix.yaml

    from hf_sftprep.testing import offline

    folder.mkdir(parents=True, exist_ok=True)
    if tokenizer_dir is not None:
        shutil.copytree(tokenizer_dir, folder / "smollm2_tokenizer", dirs_exist_ok=True)
    else:
        offline.smollm2_tokenizer(folder)
    mixture.write_sources(folder, 0, 300, 400)
    demo = ROOT / "hf_sftprep" / "data" / "demo_chat.jsonl"
    (folder / "hf_sftprep" / "data").mkdir(parents=True, exist_ok=True)
    shutil.copy(demo, folder / "hf_sftprep" / "data" / "demo_chat.jsonl")
    shutil.copy(demo, folder / "chats.jsonl")
    (folder / "mix.yaml").write_text(mixture.EXAMPLE_RECIPE)


def run(command: str, folder: Path) -> str:
    """stdout of one ``hf-sftprep`` command run in ``folder``, in this process."""
    from hf_sftprep.cli.main import main

    argv = shlex.split(command)[1:]
    out = io.StringIO()
    here = os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = main(argv)
    finally:
        os.chdir(here)
    if code != 0:
        raise SystemExit(f"{command!r} exited with {code}")
    return out.getvalue()


def generate(text: str, folder: Path) -> str:
    """docs/cli.md's text with the recipe example as the folder holds it, and every command block's output
    replaced by what the command prints now."""
    recipe = (folder / "mix.yaml").read_text()
    text = RECIPE.sub(lambda m: f"```yaml\n{recipe}```", text, count=1)
    return BLOCK.sub(lambda m: f"```text\n{m.group(1)}\n{run(m.group(1)[2:], folder)}```", text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--folder", type=Path)
    p.add_argument("--tokenizer", type=Path, help="copy this SmolLM2 tokenizer directory instead of building it")
    args = p.parse_args(argv)
    if args.folder:
        lay_out(args.folder, args.tokenizer)
        return 0
    with tempfile.TemporaryDirectory() as work:
        lay_out(Path(work), args.tokenizer)
        old = DOC.read_text(encoding="utf-8")
        new = generate(old, Path(work))
    if args.write:
        DOC.write_text(new, encoding="utf-8")
        return 0
    if new != old:
        sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True), "docs/cli.md", "generated"))
        print("docs/cli.md is stale: run python docs/cli_examples.py --write")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
