"""build_mixture(): the issue's recipe as written, recipe checks, sampling, dedupe, per-source cache, CLI."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from hf_sftprep import SFTPrepError, build_mixture
from hf_sftprep.datasets import mixture
from hf_sftprep.datasets.mixture import duplicate_mask, share_indices
from hf_sftprep.datasets.preprocess import SFTPreprocessor
from hf_sftprep.datasets.recipe import Source
from helpers import cli

MINIMAL = """\
tokenizer: ./tok          # directory or hub id
max_length: 2048
seed: 0
dedupe: true
sources:
  - name: chats           # default: the file's stem
    path: chats.jsonl
  - name: alpaca
    path: alpaca.json
    take: 40
  - name: sharegpt
    path: sharegpt.json
    fraction: 0.5
"""


def qa_chat(q: str, a: str) -> dict:
    """One exchange with the given question and answer texts."""
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


@pytest.fixture
def mix_dir(tmp_path, tok_dir, smollm):
    """chats: 30 rows, rows 25-29 repeat rows 0-4; alpaca: 60 rows; sharegpt: 20 rows, rows 0-2 equal chats 0-2."""
    shutil.copytree(tok_dir / "smollm2_tokenizer", tmp_path / "tok")
    (tmp_path / "chats.jsonl").write_text("".join(json.dumps(qa_chat(f"q{i % 25}", f"a{i % 25}")) + "\n" for i in range(30)))
    alpaca = [{"instruction": f"do {i}", "input": "" if i % 2 else f"in {i}", "output": f"done {i}"} for i in range(60)]
    (tmp_path / "alpaca.json").write_text(json.dumps(alpaca))
    sharegpt = [{"conversations": [{"from": "human", "value": f"q{i}"}, {"from": "gpt", "value": f"a{i}" if i < 3 else f"sg {i}"}]}
                for i in range(20)]
    (tmp_path / "sharegpt.json").write_text(json.dumps(sharegpt))
    (tmp_path / "mix.yaml").write_text(MINIMAL)
    return tmp_path


def recipe(mix_dir: Path, **changes) -> dict:
    out = yaml.safe_load(MINIMAL)
    out["tokenizer"] = str(mix_dir / "tok")
    for s in out["sources"]:
        s["path"] = str(mix_dir / s["path"])
    out.update(changes)
    return out


def test_minimal_recipe_as_written(mix_dir, smollm):
    ds, report = build_mixture(mix_dir / "mix.yaml", return_report=True)
    assert ds.column_names == ["input_ids", "labels", "length", "source"]
    # chats: 5 repeats removed; alpaca: take 40 of 60; sharegpt: 3 rows equal to chats removed, round(0.5 * 17) = 8
    assert Counter(ds["source"]) == {"chats": 25, "alpaca": 40, "sharegpt": 8}
    s = report.sources
    assert [s[n]["rows_in"] for n in s] == [30, 60, 20]
    assert [s[n]["duplicates"] for n in s] == [5, 0, 3] and report.duplicates == 8
    assert [s[n]["rows_out"] for n in s] == [25, 40, 8]
    assert all(s[n]["dropped"] == {} for n in s)
    for name in s:  # every per-source number agrees with the rows of the dataset
        rows = [i for i, src in enumerate(ds["source"]) if src == name]
        assert s[name]["tokens"] == sum(ds[rows]["length"])
        assert s[name]["trained_tokens"] == sum(t != -100 for r in ds[rows]["labels"] for t in r)
        assert s[name]["length_percentiles"]["max"] == max(ds[rows]["length"])
    assert sum(s[n]["share"] for n in s) == pytest.approx(1.0, abs=1e-5)
    assert report.total.rows_in == 110 and report.total.rows_out == 73 == ds.num_rows
    assert {"rows_in", "rows_out", "dropped", "duplicates", "tokens", "trained_tokens", "share"} <= set(report.to_dict()["sources"]["alpaca"])
    # no row is left twice, and every sharegpt row kept is one that chats did not already hold
    assert len({tuple(r) for r in ds["input_ids"]}) == ds.num_rows
    row = ds[ds["source"].index("sharegpt")]
    assert smollm.decode([t for t in row["labels"] if t != -100]).startswith("sg ")


def bad_format(d: Path) -> str:
    (d / "bad.jsonl").write_text(json.dumps({"prompt": "a", "response": "b"}) + "\n")
    return str(d / "bad.jsonl")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda r, d: r.update(max_len=10), r"^recipe: unknown key 'max_len'; did you mean 'max_length'\? expected one of tokenizer, "),
        (lambda r, d: r["sources"][1].update(fractoin=0.5), r"^recipe: source 'alpaca': unknown key 'fractoin'; did you mean 'fraction'\?"),
        (lambda r, d: r["sources"].append({"path": str(d / "missing.jsonl")}),
         r"^recipe: sources\[3\]: path '.*missing.jsonl': no such file or directory \(looked for .*\); fix the path"),
        (lambda r, d: r["sources"].append({"name": "bad", "path": bad_format(d)}),
         r"^recipe: source 'bad': cannot find the record format: columns found are \['prompt', 'response'\]; .* Or set format: in the source.$"),
        (lambda r, d: r["sources"][1].update(take=500),
         r"^recipe: source 'alpaca': take: 500 but the source has 60 rows; lower take to at most 60, or replace it with epochs: 9 to repeat the source.$"),
        (lambda r, d: r["sources"][1].update(fraction=0.5), r"^recipe: source 'alpaca': sets take and fraction; give at most one of take"),
        (lambda r, d: r["sources"][2].update(fraction=1.5), r"^recipe: source 'sharegpt': fraction: 1.5 is above 1; use epochs: 1.5"),
        (lambda r, d: r["sources"][2].update(epochs=0), r"^recipe: source 'sharegpt': sets fraction and epochs"),
        (lambda r, d: r["sources"][0].update(hub="org/set"), r"^recipe: source 'chats': give exactly one of 'path'"),
        (lambda r, d: r["sources"][2].update(name="chats"), r"^recipe: source 'chats': the name is used twice"),
        (lambda r, d: r["sources"][0].update(format="csv"), r"^recipe: source 'chats': format='csv' is not supported; expected one of 'auto', "),
        (lambda r, d: r["sources"][0].update(role_map=["x"]), r"^recipe: source 'chats': role_map: expected a mapping of names to names"),
        (lambda r, d: r.pop("tokenizer"), r"^recipe: 'tokenizer' is missing; name a tokenizer directory or hub id"),
        (lambda r, d: r.update(tokenizer=str(d / "no_tok")), r"^recipe: tokenizer '.*no_tok': no such directory \(looked for .*\); fix the path"),
        (lambda r, d: r.update(on_invalid="skip"), r"^recipe: on_invalid='skip' is not supported; expected one of 'error', 'drop'.$"),
        (lambda r, d: r.update(max_length=None, pack=True), r"^recipe: pack: true packs to max_length, which is not set"),
        (lambda r, d: r.update(test_size=1.0), r"^recipe: test_size: 1.0 is neither a fraction in \(0, 1\) nor a row count"),
        (lambda r, d: r.update(sources=[]), r"^recipe: 'sources' is missing or empty"),
    ],
)
def test_recipe_errors_before_any_work(mix_dir, monkeypatch, edit, message):
    calls = []
    monkeypatch.setattr(mixture, "prepare", lambda *a, **k: calls.append(1))
    r = recipe(mix_dir)
    edit(r, mix_dir)
    with pytest.raises(SFTPrepError, match=message) as info:
        build_mixture(r)
    assert "\n" not in str(info.value) and calls == []


def test_recipe_file_errors(tmp_path):
    with pytest.raises(SFTPrepError, match=r"^recipe '.*nope.yaml': no such file; pass a YAML or JSON recipe file.$"):
        build_mixture(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(SFTPrepError, match=r"holds a list; expected a mapping with 'tokenizer' and 'sources'"):
        build_mixture(tmp_path / "list.yaml")


def test_json_recipe_and_default_names(mix_dir):
    r = recipe(mix_dir)
    for s in r["sources"]:
        del s["name"]
    (mix_dir / "mix.json").write_text(json.dumps(r))
    ds = build_mixture(mix_dir / "mix.json")
    assert set(ds["source"]) == {"chats", "alpaca", "sharegpt"}


def test_share_indices_literal():
    rows = np.arange(10, 20)
    assert share_indices(Source("a", take=3), rows, seed=0).tolist() == [10, 14, 17]
    assert share_indices(Source("a", epochs=1.5), np.arange(4), seed=0).tolist() == [0, 1, 2, 3, 0, 2]
    assert share_indices(Source("a", fraction=0.3), rows, seed=0).tolist() == [10, 14, 17]
    assert share_indices(Source("a"), rows, seed=0).tolist() == rows.tolist()
    assert share_indices(Source("b", take=3), rows, seed=0).tolist() != [10, 14, 17]  # each source draws on its own


def test_sampling_is_deterministic(mix_dir):
    a = build_mixture(recipe(mix_dir))
    b = build_mixture(recipe(mix_dir))
    c = build_mixture(recipe(mix_dir, seed=1))
    assert a["input_ids"] == b["input_ids"] and a["source"] == b["source"]
    assert a["input_ids"] != c["input_ids"]
    picked = lambda ds: {tuple(r) for r, s in zip(ds["input_ids"], ds["source"]) if s == "alpaca"}  # noqa: E731
    assert picked(a) == picked(b) != picked(c)


def test_epochs_drops_and_system_prompt(mix_dir, smollm):
    rows = [qa_chat("q", "a"), {"messages": [{"role": "user", "content": "no answer"}]},
            {"messages": [{"role": "system", "content": "Own."}, *qa_chat("q2", "a2")["messages"]]}]
    (mix_dir / "extra.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    bad_alpaca = [{"instruction": "x", "input": "", "output": " "}, {"instruction": "y", "input": "", "output": "fine"}]
    (mix_dir / "few.json").write_text(json.dumps(bad_alpaca))
    r = recipe(mix_dir, on_invalid="drop", dedupe=False, shuffle=False)
    r["sources"] = [
        {"path": str(mix_dir / "extra.jsonl"), "epochs": 2, "system_prompt": "Be brief."},
        {"path": str(mix_dir / "few.json"), "system_prompt": "Be brief."},
        {"path": str(mix_dir / "sharegpt.json"), "take": 1, "system_prompt": "Be brief."},
    ]
    ds, report = build_mixture(r, return_report=True)
    extra, few = report.sources["extra"], report.sources["few"]
    assert (extra["rows_in"], extra["dropped"], extra["rows_prepared"], extra["rows_out"]) == (3, {"no_assistant": 1}, 2, 4)
    assert (few["rows_in"], few["dropped"], few["rows_out"]) == (2, {"empty_answer": 1}, 1)
    texts = [smollm.decode(ids) for ids in ds["input_ids"]]
    assert texts[0] == texts[2] and texts[0].startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nq<|im_end|>")
    assert texts[1].startswith("<|im_start|>system\nOwn.<|im_end|>")  # a row with its own system message keeps it
    assert texts[4].startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\ny<|im_end|>")  # Alpaca
    assert texts[5].startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nq")  # ShareGPT
    with pytest.raises(SFTPrepError, match=r"row 0: field 'output' is ' '; expected a non-empty answer"):
        build_mixture({**r, "on_invalid": "error", "sources": r["sources"][1:2]})


def test_dedupe_matches_a_python_set():
    rng = np.random.default_rng(5)
    parts, seen, expected = [], set(), []
    pool = [rng.integers(0, 50, rng.integers(0, 6)) for _ in range(40)]
    pool.append(pool[3][::-1].copy())  # same tokens, other order: not a duplicate
    for _ in range(4):
        rows = [pool[i] for i in rng.integers(0, len(pool), 60)]
        lengths = np.array([len(r) for r in rows])
        parts.append((np.concatenate(rows).astype(np.int32), np.concatenate([[0], np.cumsum(lengths)])))
        flags = []
        for r in rows:
            flags.append(tuple(r) in seen)
            seen.add(tuple(r))
        expected.append(np.array(flags))
    got = duplicate_mask(parts)
    assert [g.tolist() for g in got] == [e.tolist() for e in expected]
    assert sum(int(g.sum()) for g in got) > 150


def test_editing_one_source_reprepares_only_it(mix_dir, monkeypatch):
    calls = []
    original = SFTPreprocessor.__call__

    def counting(self, batch, indices=None):
        calls.append(next(c for c in ("messages", "instruction", "conversations") if c in batch))
        return original(self, batch, indices)

    monkeypatch.setattr(SFTPreprocessor, "__call__", counting)
    cache = Path(os.environ["HF_DATASETS_CACHE"])
    arrow_files = lambda: sorted(p.name for p in cache.rglob("cache-*.arrow"))  # noqa: E731
    first = build_mixture(recipe(mix_dir))
    assert sorted(calls) == ["conversations", "instruction", "messages"]
    files = arrow_files()
    calls.clear()
    again = build_mixture(recipe(mix_dir))
    assert calls == [] and arrow_files() == files and again["input_ids"] == first["input_ids"]
    edited = recipe(mix_dir)
    edited["sources"][1]["alpaca_prompt"] = "stanford"
    build_mixture(edited)
    assert calls == ["instruction"]
    assert len(arrow_files()) == len(files) + 1 and set(files) <= set(arrow_files())


def test_one_source_recipe_equals_build(mix_dir):
    from hf_sftprep.cli.loading import open_prepared

    data = str(mix_dir / "chats.jsonl")
    plain = cli("build", data, "--tokenizer", str(mix_dir / "tok"), "--out", str(mix_dir / "plain"), "--max-length", "64")
    assert plain.returncode == 0, plain.stderr
    one = {"tokenizer": "tok", "max_length": 64, "shuffle": False, "sources": [{"path": "chats.jsonl"}]}
    (mix_dir / "one.yaml").write_text(yaml.safe_dump(one))
    proc = cli("build", "--recipe", str(mix_dir / "one.yaml"), "--out", str(mix_dir / "mixed"))
    assert proc.returncode == 0, proc.stderr
    assert "chats" in proc.stdout and "duplicates removed: 0" in proc.stdout
    (a, _, _), (b, _, stats) = open_prepared(str(mix_dir / "plain")), open_prepared(str(mix_dir / "mixed"))
    for column in ("input_ids", "labels", "length"):
        assert a[column] == b[column]
    assert set(b["source"]) == {"chats"}
    assert stats["sources"]["chats"]["rows_out"] == 30 and stats["rows_out"] == 30
    html = cli("report", str(mix_dir / "mixed"), "--out", str(mix_dir / "report.html"))
    assert html.returncode == 0, html.stderr
    page = (mix_dir / "report.html").read_text()
    assert '<h2>Sources</h2><img alt="tokens per source" src="data:image/png;base64,' in page
    assert f"<tr><td>chats</td><td>30</td><td>0</td><td>0</td><td>30</td><td>{stats['tokens']:,}</td><td>100.0%</td>" in page
    shuffled = build_mixture({**one, "tokenizer": str(mix_dir / "tok"), "shuffle": True, "sources": [{"path": data}]})
    assert shuffled["input_ids"] != a["input_ids"]
    assert sorted(zip(shuffled["input_ids"], shuffled["labels"])) == sorted(zip(a["input_ids"], a["labels"]))
    bad = cli("build", "--recipe", str(mix_dir / "mix.yaml"), "--out", str(mix_dir / "x"), "--tokenizer", "t")
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1] == (
        "hf-sftprep: error: --recipe names the data and the tokenizer; drop DATA and --tokenizer, or drop --recipe.")
    (mix_dir / "typo.yaml").write_text(MINIMAL.replace("max_length", "max_lenght"))
    typo = cli("build", "--recipe", str(mix_dir / "typo.yaml"), "--out", str(mix_dir / "y"))
    assert typo.returncode == 2 and "Traceback" not in typo.stderr
    assert typo.stderr.strip().splitlines()[-1].startswith(
        "hf-sftprep: error: recipe: unknown key 'max_lenght'; did you mean 'max_length'?")


def test_columns_every_source_has_are_kept(mix_dir):
    (mix_dir / "a.jsonl").write_text("".join(json.dumps({"id": i, **qa_chat(f"a{i}", "x")}) + "\n" for i in range(3)))
    (mix_dir / "b.jsonl").write_text("".join(json.dumps({"id": 10 + i, **qa_chat(f"b{i}", "y")}) + "\n" for i in range(2)))
    both = build_mixture({"tokenizer": str(mix_dir / "tok"), "shuffle": False,
                          "sources": [{"path": str(mix_dir / "a.jsonl")}, {"path": str(mix_dir / "b.jsonl")}]})
    assert both.column_names == ["id", "input_ids", "labels", "length", "source"]
    assert both["id"] == [0, 1, 2, 10, 11] and both["source"] == ["a"] * 3 + ["b"] * 2
    one = build_mixture({"tokenizer": str(mix_dir / "tok"),
                         "sources": [{"path": str(mix_dir / "a.jsonl")}, {"path": str(mix_dir / "chats.jsonl")}]})
    assert one.column_names == ["input_ids", "labels", "length", "source"]


def test_split_then_pack(mix_dir):
    plain = build_mixture(recipe(mix_dir, max_length=128, test_size=0.2))
    packed, report = build_mixture(recipe(mix_dir, max_length=128, test_size=0.2, pack=True), return_report=True)
    assert {k: v.num_rows for k, v in plain.items()} == {"train": 58, "test": 15}
    for split in ("train", "test"):
        rows = packed[split]
        assert set(rows.column_names) >= {"input_ids", "labels", "seq_lengths", "length", "source"}
        # every pack splits back into exactly the rows (and sources) of the same split, unpacked
        pieces = []
        for ids, labels, lengths, sources in zip(rows["input_ids"], rows["labels"], rows["seq_lengths"], rows["source"]):
            starts = np.cumsum([0] + lengths[:-1])
            pieces += [(tuple(ids[a : a + n]), tuple(labels[a : a + n]), s) for a, n, s in zip(starts, lengths, sources)]
        expected = zip(plain[split]["input_ids"], plain[split]["labels"], plain[split]["source"])
        assert sorted(pieces) == sorted((tuple(i), tuple(la), s) for i, la, s in expected)
        assert max(rows["length"]) <= 128
        stats = report.to_dict()["splits"][split]
        assert stats["packing"]["packs"] == rows.num_rows and stats["rows_out"] == plain[split].num_rows
