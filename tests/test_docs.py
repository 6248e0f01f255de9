"""The documented command outputs are what the commands print (issue 19, items 16 and 17)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _examples():
    spec = importlib.util.spec_from_file_location("cli_examples", ROOT / "docs" / "cli_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_item17_cli_md_outputs_are_generated(tok_dir, smollm):
    """Every ``$ hf-sftprep ...`` block of docs/cli.md holds what the command prints; fix with
    ``python docs/cli_examples.py --write``. A fresh process, as when the script is run by hand: the recipe
    example's corpus is drawn from stdlib docstrings, which depend on the modules already imported."""
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    commands = _examples().BLOCK.findall(text)
    assert [c for c, _ in commands] == [
        "$ hf-sftprep build hf_sftprep/data/demo_chat.jsonl --tokenizer ./smollm2_tokenizer --out prepared --max-length 512",
        "$ hf-sftprep build hf_sftprep/data/demo_chat.jsonl --tokenizer ./smollm2_tokenizer --out packed --max-length 512 --pack 512",
        "$ hf-sftprep build --recipe mix.yaml --out mixed",
        "$ hf-sftprep inspect prepared --row 3",
        "$ hf-sftprep verify prepared --records hf_sftprep/data/demo_chat.jsonl --max-length 512 --sample all",
    ]
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "cli_examples.py"), "--check", "--tokenizer",
                           str(tok_dir / "smollm2_tokenizer")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    # the folder is laid out before the first example uses ./smollm2_tokenizer
    assert text.index("python docs/cli_examples.py --folder work") < text.index("--tokenizer ./smollm2_tokenizer")


def test_item16_readme_use_example_runs_as_written(tmp_path, tok_dir, smollm):
    """README's Use snippet (its first python block) runs in a folder with the tokenizer it names, and its
    build_trainer snippet defines every name it uses."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    use = blocks[0]
    assert "hf_sftprep/data/demo_chat.jsonl" in use
    (tmp_path / "hf_sftprep" / "data").mkdir(parents=True)
    (tmp_path / "hf_sftprep" / "data" / "demo_chat.jsonl").write_text(
        (ROOT / "hf_sftprep" / "data" / "demo_chat.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    code = use.replace("AutoTokenizer.from_pretrained(\"HuggingFaceTB/SmolLM2-135M-Instruct\")",
                       f"AutoTokenizer.from_pretrained({str(tok_dir / 'smollm2_tokenizer')!r})")
    proc = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n" + code],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PATH": "/usr/bin:/bin",
                               "HF_DATASETS_CACHE": str(tmp_path / "cache"), "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    trainer = next(b for b in blocks if "build_trainer(" in b)
    assert "model = " in trainer and "import" in trainer


def test_item18_slow_tests_skip_with_the_documented_marker():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "```bash\npython -m pytest -q -n 2\n```" in readme  # CI's command, running everything on both cores
    assert (ROOT / ".ci" / "run").read_text(encoding="utf-8").rstrip().endswith("\npython -m pytest -q -n 2")
    assert 'python -m pytest -q -m "not slow"' in readme
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only", "-m", "not slow",
                           "tests/test_trainer.py", "tests/test_distributed.py"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:]
    collected = [line for line in proc.stdout.splitlines() if "::" in line]
    assert collected and not any("real_smollm2" in c or "test_distributed.py" in c for c in collected)
    assert "PytestUnknownMarkWarning" not in proc.stdout + proc.stderr
