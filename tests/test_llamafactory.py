"""datasets/peers/llamafactory.py and ``build --llamafactory``: every dataset_info.json field for text SFT is handled
(exact ids and labels on the real Qwen2.5 tokenizer) or refused by name. The entries are LLaMA-Factory's own
data/dataset_info.json (tests/fixtures/peers, verbatim), its demo files replaced by small JSONL-shaped files."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from helpers import trained_positions
from datasets import load_from_disk
from transformers import AutoTokenizer

from hf_sftprep import SFTPrepError, from_llamafactory
from hf_sftprep.errors import RowError
from hf_sftprep.cli.main import main
from hf_sftprep.datasets.mixture import run_recipe

INFO = Path(__file__).parent / "fixtures" / "peers" / "llamafactory_dataset_info.json"
# Qwen2.5: its default system block, then <|im_start|>user\nAdd\n1+1<|im_end|>\n<|im_start|>assistant\n2<|im_end|>\n
DEFAULT_SYSTEM = [151644, 8948, 198, 2610, 525, 1207, 16948, 11, 3465, 553, 54364, 14817, 13, 1446, 525, 264, 10950,
                  17847, 13, 151645, 198]
ADD = [151644, 872, 198, 2212, 198, 16, 10, 16, 151645, 198, 151644, 77091, 198, 17, 151645, 198]
BE_BRIEF = [151644, 8948, 198, 3430, 9814, 13, 151645, 198]  # <|im_start|>system\nBe brief.<|im_end|>\n


@pytest.fixture
def info(tmp_path) -> Path:
    """LLaMA-Factory's dataset_info.json in a folder with small files under the names its entries read."""
    path = tmp_path / "dataset_info.json"
    shutil.copy(INFO, path)
    return path


def _write(info: Path, name: str, rows: list[dict]) -> None:
    (info.parent / name).write_text(json.dumps(rows))  # LLaMA-Factory's demo files are JSON arrays


def _rows(recipe) -> list[dict]:
    ds = run_recipe(recipe)[0]
    return list(ds["train"] if hasattr(ds, "keys") else ds)


# -- handled fields: exact ids and labels ---------------------------------------------------------
def test_alpaca_demo_prompt_query_response(info, qwen_path):
    _write(info, "alpaca_en_demo.json", [{"instruction": "Add", "input": "1+1", "output": "2"}])
    (row,) = _rows(from_llamafactory(info, "alpaca_en_demo", tokenizer=qwen_path))
    assert row["input_ids"] == DEFAULT_SYSTEM + ADD  # "Add\n1+1": prompt and query joined by "\n"
    assert trained_positions(row) == [34, 35]  # "2", <|im_end|>


def test_alpaca_columns_system_and_history(info, qwen_path):
    data = json.loads(info.read_text())
    data["mine"] = {"file_name": "mine.json", "columns": {"prompt": "q", "query": "ctx", "response": "a",
                                                          "system": "sys", "history": "past"}}
    info.write_text(json.dumps(data))
    _write(info, "mine.json", [{"q": "Add", "ctx": "1+1", "a": "2", "sys": "Be brief.", "past": [["Hi", "Yo"]]},
                               {"q": "Add", "ctx": "", "a": "2", "sys": "", "past": []}])
    first, second = sorted(_rows(from_llamafactory(info, ["mine"], tokenizer=qwen_path)), key=lambda r: -r["length"])
    hi_yo = [151644, 872, 198, 13048, 151645, 198, 151644, 77091, 198, 64725, 151645, 198]
    assert first["input_ids"] == BE_BRIEF + hi_yo + ADD
    assert trained_positions(first) == [17, 18, 33, 34]  # the history answer is trained too, as LLaMA-Factory trains it
    # an empty query is left out of the join; an empty system writes no system message (the template's default)
    assert second["input_ids"] == DEFAULT_SYSTEM + [151644, 872, 198, 2212, 151645, 198, 151644, 77091, 198, 17,
                                                    151645, 198]


def test_sharegpt_tools_demo(info, qwen_path):
    """glaive_toolcall_en_demo: conversations with function_call / observation turns and a JSON tools column."""
    tools = [{"name": "add", "description": "Add.", "parameters": {"type": "object", "properties": {}}}]
    conv = [{"from": "human", "value": "1+1?"}, {"from": "function_call", "value": '{"name": "add", "arguments": {}}'},
            {"from": "observation", "value": "2"}, {"from": "gpt", "value": "2"}]
    _write(info, "glaive_toolcall_en_demo.json", [{"conversations": conv, "tools": json.dumps(tools)}])
    (row,) = _rows(from_llamafactory(info, "glaive_toolcall_en_demo", tokenizer=qwen_path))
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(qwen_path)
    text = tok.decode(row["input_ids"])
    # the schemas reach the tokenizer's template as written (LLaMA-Factory's own qwen template wraps them in
    # {"type": "function", "function": ...}: a listed difference)
    assert '<tools>\n{"name": "add", "description": "Add.", "parameters": {"type": "object", "properties": {}}}\n</tools>' in text
    assert '<tool_call>\n{"name": "add", "arguments": {}}\n</tool_call>' in text
    assert "<tool_response>\n2\n</tool_response>" in text
    trained = tok.decode([row["input_ids"][k] for k in trained_positions(row)])
    assert trained == '<tool_call>\n{"name": "add", "arguments": {}}\n</tool_call><|im_end|>2<|im_end|>'


def test_sharegpt_tags_and_system_tag(info, qwen_path):
    """open_thoughts' tags: role / content keys, user / assistant / system names; a first system turn is the prompt."""
    data = json.loads(info.read_text())
    data["thoughts"] = {**data["open_thoughts"], "file_name": "t.json"}
    del data["thoughts"]["hf_hub_url"]
    info.write_text(json.dumps(data))
    _write(info, "t.json", [{"messages": [{"role": "system", "content": "Be brief."},
                                          {"role": "user", "content": "Add\n1+1"}, {"role": "assistant", "content": "2"}]}])
    (row,) = _rows(from_llamafactory(info, "thoughts", tokenizer=qwen_path))
    assert (row["input_ids"], trained_positions(row)) == (BE_BRIEF + ADD, [21, 22])


def test_tags_without_system_tag_name_no_system_role(info, qwen_path):
    """With a tags map, LLaMA-Factory sets every tag it leaves out to None (DatasetAttr.join): a first system
    turn is then no known role and LLaMA-Factory skips the row. Ours refuses it by name, or drops and counts
    it (issue 28, bug 3); a row without one is prepared as before."""
    data = json.loads(info.read_text())
    data["thoughts"] = {**data["open_thoughts"], "file_name": "t.json"}
    del data["thoughts"]["hf_hub_url"]
    data["thoughts"]["tags"] = {k: v for k, v in data["thoughts"]["tags"].items() if k != "system_tag"}
    data["no_role"] = {"file_name": "t.json", "formatting": "sharegpt", "tags": {"content_tag": "content"}}
    info.write_text(json.dumps(data))
    with_system = {"messages": [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "Add\n1+1"}, {"role": "assistant", "content": "2"}]}
    plain = {"messages": with_system["messages"][1:]}
    _write(info, "t.json", [plain, with_system])
    with pytest.raises(RowError, match=re.escape(
            "row 1: field 'messages'[0] has role='system'; expected one of the tags 'user', 'assistant' (tags leaves "
            "out observation_tag, function_tag, system_tag: LLaMA-Factory then reads no such role and skips the row; "
            "add the tag naming 'system' to tags to keep such rows).")):
        _rows(from_llamafactory(info, "thoughts", tokenizer=qwen_path))
    (row,) = _rows(from_llamafactory(info, "thoughts", tokenizer=qwen_path, on_invalid="drop"))
    tok = AutoTokenizer.from_pretrained(qwen_path)
    assert row["input_ids"] == tok.apply_chat_template(plain["messages"], tokenize=True, return_dict=True)["input_ids"]
    assert tok.decode([row["input_ids"][k] for k in trained_positions(row)]) == "2<|im_end|>"
    with pytest.raises(SFTPrepError, match=re.escape("llamafactory: dataset 'no_role': tags has no role_tag: "
                                                     "LLaMA-Factory then reads the messages with the key None; add "
                                                     "role_tag (its default is 'from') to tags.")):
        from_llamafactory(info, "no_role", tokenizer=qwen_path)


def test_num_samples_cutoff_len_val_size_and_hub_entries(info, qwen_path):
    data = json.loads(info.read_text())
    data["alpaca_en_demo"]["num_samples"] = 3
    info.write_text(json.dumps(data))
    _write(info, "alpaca_en_demo.json", [{"instruction": f"Add {i}", "input": "", "output": "2"} for i in range(10)])
    recipe = from_llamafactory(info, "alpaca_en_demo", tokenizer=qwen_path, cutoff_len=34, val_size=1)
    assert (recipe.max_length, recipe.test_size, recipe.sources[0].take) == (34, 1, 3)
    ds = run_recipe(recipe)[0]
    assert (ds["train"].num_rows, ds["test"].num_rows) == (2, 1)
    assert [len(r["input_ids"]) for r in ds["train"]] == [34, 34]  # 35 tokens, the final "\n" cut after labelling
    # an hf_hub_url entry (its ms_hub_url / om_hub_url are LLaMA-Factory's other hubs: hf_hub_url wins there too)
    source = from_llamafactory(info, "ultrachat_200k", tokenizer=qwen_path).sources[0]
    assert (source.hub, source.split, source.files) == ("HuggingFaceH4/ultrachat_200k", "train_sft", None)


# -- refused fields: the exact message --------------------------------------------------------------
@pytest.mark.parametrize(("name", "message"), [
    ("mllm_demo", "columns.images is not supported: image inputs are not text SFT; hf_sftprep prepares text only."),
    ("mllm_video_demo", "columns.videos is not supported: video inputs are not text SFT; hf_sftprep prepares text only."),
    ("mllm_audio_demo", "columns.audios is not supported: audio inputs are not text SFT; hf_sftprep prepares text only."),
    ("dpo_en_demo", "ranking: true is preference data (chosen / rejected), not SFT records; prepare the chosen answers "
                    "as SFT rows, or use a preference trainer's tools."),
    ("orca_pairs", "ranking: true is preference data (chosen / rejected), not SFT records;"),
    ("kto_en_demo", "columns.kto_tag is not supported: KTO data is not SFT records."),
    ("deepctrl", "ms_hub_url is not supported: hf_sftprep loads from the Hugging Face hub or local files; download the "
                 "data and use file_name."),
    ("llava_1k_en", "subset is not supported: a hub dataset's config name; hf_sftprep loads hub datasets without one. "
                    "Download that subset's files and use file_name."),
])
def test_refused_entries_of_the_fixture(info, name, message):
    with pytest.raises(SFTPrepError, match="^" + re.escape(f"llamafactory: dataset {name!r}: {message}")):
        from_llamafactory(info, name, tokenizer="t")


@pytest.mark.parametrize(("entry", "message"), [
    ({"file_name": "a.json", "formatting": "openai"}, "formatting: openai is not supported: LLaMA-Factory 0.9.5's "
                                                      "openai converter adds the system text 'detailed thinking off' to "
                                                      "every row."),
    ({"file_name": "a.json", "formatting": "chatml"}, "formatting='chatml' is not supported; expected one of 'alpaca', "
                                                      "'sharegpt'."),
    ({"file_name": "a.json", "tags": {"role_tag": "role"}}, "tags are read for formatting: sharegpt only; remove them."),
    ({"file_name": "a.json", "columns": {"messages": "m"}}, "columns.messages is not read for this formatting; expected "
                                                            "one of prompt, query, response, history, system, tools."),
    ({"file_name": "a.json", "num_samples": 0}, "num_samples: 0 is not a positive integer."),
    ({"file_name": "a.json", "script_url": "x"}, "script_url is not supported: hf_sftprep runs no dataset scripts; "
                                                 "convert the data to files and use file_name."),
    ({"file_name": "a.json", "cloud_file_name": "s3://x"}, "cloud_file_name is not supported: download the file and "
                                                           "use file_name."),
    ({"file_name": "a.json", "folder": "x"}, "folder is not supported: a folder inside a hub dataset; download it and "
                                             "use file_name."),
    ({"file_nme": "a.json"}, "unknown field 'file_nme'; expected one of file_name, hf_hub_url, formatting, ranking,"),
    ({"formatting": "alpaca"}, "has neither file_name nor hf_hub_url; give the data file (read from the "
                               "dataset_info.json folder) or a hub dataset."),
])
def test_refused_fields(tmp_path, entry, message):
    info = tmp_path / "dataset_info.json"
    info.write_text(json.dumps({"mine": entry}))
    (tmp_path / "a.json").write_text("[]")
    with pytest.raises(SFTPrepError, match="^" + re.escape(f"llamafactory: dataset 'mine': {message}")):
        from_llamafactory(info, "mine", tokenizer="t")


def test_refused_arguments(info):
    with pytest.raises(SFTPrepError, match=re.escape(f"llamafactory: dataset 'nope' is not in {info}; it has identity, "
                                                     "alpaca_en_demo,")):
        from_llamafactory(info, "alpaca_en_demo,nope", tokenizer="t")
    with pytest.raises(SFTPrepError, match=r"^llamafactory: no dataset named; pass the entries to prepare, e\.g\. "
                                           r"--dataset alpaca_en_demo\.$"):
        from_llamafactory(info, " , ", tokenizer="t")
    with pytest.raises(SFTPrepError, match=r"^llamafactory: cutoff_len: 0 is not a positive integer\.$"):
        from_llamafactory(info, "identity", tokenizer="t", cutoff_len=0)
    with pytest.raises(SFTPrepError, match=r"^llamafactory: val_size: 1\.5 is neither a fraction in \(0, 1\) nor a row "
                                           r"count >= 1\.$"):
        from_llamafactory(info, "identity", tokenizer="t", val_size=1.5)


def test_refused_rows(info, qwen_path):
    data = json.loads(info.read_text())
    data["mine"] = {"file_name": "mine.json", "formatting": "sharegpt"}
    info.write_text(json.dumps(data))
    good = [{"from": "human", "value": "Add\n1+1"}, {"from": "gpt", "value": "2"}]
    _write(info, "mine.json", [{"conversations": good}, {"conversations": [{"from": "robot", "value": "x"}]}])
    with pytest.raises(SFTPrepError, match=re.escape(
            "row 1: field 'conversations'[0] has from='robot'; expected one of the tags 'human', 'gpt', 'observation', "
            "'function_call', 'system'. Fix the record or the tags, or drop such rows with on_invalid='drop'.")):
        run_recipe(from_llamafactory(info, "mine", tokenizer=qwen_path))
    ds, report, _ = run_recipe(from_llamafactory(info, "mine", tokenizer=qwen_path, on_invalid="drop"))
    # counted under the converter's own reason, and its marker column is not kept
    assert ds.num_rows == 1 and report.to_dict()["dropped"] == {"unknown_role": 1}
    assert "hf_sftprep_refused" not in ds.column_names


# -- the CLI ----------------------------------------------------------------------------------------
def test_cli_build_llamafactory(info, qwen_path, tmp_path, capsys):
    _write(info, "alpaca_en_demo.json", [{"instruction": f"Add {i}", "input": "", "output": "2"} for i in range(4)])
    _write(info, "identity.json", [{"instruction": "Add", "input": "1+1", "output": "2"}])
    out = tmp_path / "out"
    assert main(["build", "--llamafactory", str(info), "--dataset", "alpaca_en_demo,identity", "--tokenizer", qwen_path,
                 "--cutoff-len", "36", "--val-size", "1", "--out", str(out)]) == 0
    ds = load_from_disk(str(out))
    assert (ds["train"].num_rows, ds["test"].num_rows) == (4, 1)
    rows = list(ds["train"]) + list(ds["test"])
    assert sorted(r["source"] for r in rows) == ["alpaca_en_demo"] * 4 + ["identity"]
    assert [r["input_ids"] for r in rows if r["source"] == "identity"] == [DEFAULT_SYSTEM + ADD[:15]]  # cut at 36
    capsys.readouterr()
    assert main(["build", "--llamafactory", str(info), "--tokenizer", qwen_path, "--out", str(tmp_path / "o2")]) == 2
    assert capsys.readouterr().err.strip() == (
        "hf-sftprep: error: --llamafactory needs --dataset a,b (the dataset_info.json entries) and --tokenizer (the "
        "model_name_or_path of the LLaMA-Factory run).")
    assert main(["build", "--llamafactory", str(info), "--dataset", "identity", "--tokenizer", qwen_path,
                 "--max-length", "9", "--out", str(tmp_path / "o2")]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "--max-length is set by the llamafactory config (use --cutoff-len); drop --max-length.")
    assert main(["build", "--llamafactory", str(info), "--dataset", "mllm_demo", "--tokenizer", qwen_path,
                 "--out", str(tmp_path / "o2")]) == 2
    assert "hf-sftprep: error: llamafactory: dataset 'mllm_demo': columns.images is not supported" in capsys.readouterr().err
