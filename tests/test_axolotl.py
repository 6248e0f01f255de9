"""datasets/peers/axolotl.py and ``build --axolotl``: every option Axolotl's chat_template / alpaca types read is
handled (exact ids and labels on the real Qwen2.5 / Llama 3 tokenizers) or refused by name. The configs are
Axolotl's own examples (tests/fixtures/peers, verbatim), with their data paths pointed at small JSONL files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import trained_positions
import yaml
from datasets import load_from_disk

from hf_sftprep import SFTPrepError, from_axolotl
from hf_sftprep.cli.main import main
from hf_sftprep.datasets.mixture import run_recipe
from hf_sftprep.datasets.peers import AxolotlRows

FIXTURES = Path(__file__).parent / "fixtures" / "peers"
CHAT = [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"},
        {"from": "human", "value": "Bye"}, {"from": "gpt", "value": "Later"}]
SHAREGPT = {"field_messages": "conversations", "message_property_mappings": {"role": "from", "content": "value"}}
# Qwen2.5: <|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello...
IDS = [151644, 8948, 198, 3430, 9814, 13, 151645, 198, 151644, 872, 198, 13048, 151645, 198, 151644, 77091, 198, 9707,
       151645, 198, 151644, 872, 198, 1359, 68, 151645, 198, 151644, 77091, 198, 29982, 151645, 198]
# the same without the system message: Qwen2.5's template writes its default one
NO_SYSTEM = [151644, 8948, 198, 2610, 525, 1207, 16948, 11, 3465, 553, 54364, 14817, 13, 1446, 525, 264, 10950, 17847,
             13, 151645, 198] + IDS[8:]


def _fixture(name: str, tmp_path: Path, tokenizer: str, rows: list[dict], **changes) -> dict:
    cfg = yaml.safe_load((FIXTURES / name).read_text())
    cfg["base_model"] = tokenizer
    cfg["datasets"][0]["path"] = _jsonl(tmp_path / "data.jsonl", rows)
    cfg.update(changes)
    return cfg


def _jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _config(tmp_path, tokenizer, rows, entry=None, **top) -> dict:
    entry = {"type": "chat_template", **SHAREGPT, **(entry or {})}
    return {"base_model": tokenizer, "datasets": [{"path": _jsonl(tmp_path / "c.jsonl", rows), **entry}], **top}


def _rows(cfg) -> list[dict]:
    ds = run_recipe(from_axolotl(cfg))[0]
    return list(ds["train"] if hasattr(ds, "keys") else ds)


@pytest.fixture(scope="module")
def llama3_path(tok_dir, llama3) -> str:
    return llama3.name_or_path


# -- handled options: exact ids and labels --------------------------------------------------------
@pytest.mark.parametrize(("entry", "top", "trained"), [
    ({}, {}, [17, 18, 30, 31]),                                     # roles_to_train [assistant], train_on_eos turn
    ({"roles_to_train": ["assistant"], "train_on_eos": "turn"}, {}, [17, 18, 30, 31]),
    ({"train_on_eos": "last"}, {}, [17, 30, 31]),
    ({"train_on_eot": "none"}, {}, [17, 30]),
    ({"train_on_eos": "all", "train_on_eot": "all"}, {}, [6, 12, 17, 18, 25, 30, 31]),  # also system's and users'
    ({}, {"train_on_inputs": True}, list(range(33))),
], ids=["default", "explicit", "eos_last", "eot_none", "eos_all", "train_on_inputs"])
def test_end_of_turn_modes_and_train_on_inputs(tmp_path, qwen_path, entry, top, trained):
    (row,) = _rows(_config(tmp_path, qwen_path, [{"conversations": CHAT}], entry, **top))
    assert row["input_ids"] == IDS
    assert trained_positions(row) == trained


def test_message_field_training_and_roles_to_train(tmp_path, qwen_path):
    flagged = [dict(m) for m in CHAT]
    flagged[2]["train"] = False  # "Hello" is not trained; "Later" (no flag) follows roles_to_train
    (row,) = _rows(_config(tmp_path, qwen_path, [{"conversations": flagged}], {"message_field_training": "train"}))
    assert (row["input_ids"], trained_positions(row)) == (IDS, [30, 31])
    only = [dict(m) for m in CHAT]
    only[4]["train"] = True  # roles_to_train: [] trains the flagged messages only
    (row,) = _rows(_config(tmp_path, qwen_path, [{"conversations": only}],
                           {"message_field_training": "train", "roles_to_train": []}))
    assert (row["input_ids"], trained_positions(row)) == (IDS, [30, 31])


def test_roles_aliases_and_legacy_role_content_fields(tmp_path, qwen_path):
    renamed = [{"speaker": {"human": "person", "gpt": "bot"}.get(m["from"], m["from"]), "text": m["value"]} for m in CHAT]
    entry = {"message_property_mappings": None, "message_field_role": "speaker", "message_field_content": "text",
             "roles": {"user": ["person"], "assistant": ["bot"], "system": ["system"]}}
    (row,) = _rows(_config(tmp_path, qwen_path, [{"conversations": renamed}], entry))
    assert (row["input_ids"], trained_positions(row)) == (IDS, [17, 18, 30, 31])


def test_drop_system_message_and_field_system(tmp_path, qwen_path, caplog):
    (row,) = _rows(_config(tmp_path, qwen_path, [{"conversations": CHAT}], {"drop_system_message": True}))
    assert (row["input_ids"], trained_positions(row)) == (NO_SYSTEM, [30, 31, 43, 44])
    (row,) = _rows(_config(tmp_path, qwen_path, [{"conversations": CHAT[1:], "sys": "Be kind."}],
                           {"field_system": "sys"}))
    assert row["input_ids"] == IDS[:4] + [3093] + IDS[5:]  # " kind"
    assert trained_positions(row) == [17, 18, 30, 31]
    # Axolotl 0.19 ignores field_system for chat_template (a peer bug, issue 28): ours reads it, and says so
    warned = [r.getMessage() for r in caplog.records if "field_system" in r.getMessage()]
    assert len(warned) == 1 and "Axolotl 0.19 ignores the key for type: chat_template" in warned[0]
    assert "Remove field_system to reproduce it" in warned[0]


def test_field_messages_as_json_string_and_field_tools(tmp_path, qwen_path):
    tools = [{"type": "function", "function": {"name": "add", "description": "Add.", "parameters": {"type": "object"}}}]
    rows = [{"chat": json.dumps(CHAT), "fns": json.dumps(tools)}]
    (row,) = _rows(_config(tmp_path, qwen_path, rows, {"field_messages": "chat", "field_tools": "fns"}))
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(qwen_path)
    messages = [{"role": {"human": "user", "gpt": "assistant"}.get(m["from"], m["from"]), "content": m["value"]}
                for m in CHAT]
    assert row["input_ids"] == tok.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True)["input_ids"]
    assert [tok.decode([row["input_ids"][k]]) for k in trained_positions(row)] == ["Hello", "<|im_end|>", "Later", "<|im_end|>"]


def test_field_thinking_is_passed_as_reasoning_content():
    rows = AxolotlRows("messages", {"role": "role", "content": "content", "reasoning_content": "thought"}, None, None)
    record = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo", "thought": "hm"}]}
    assert rows.convert(0, record) == ([{"role": "user", "content": "Hi"},
                                        {"role": "assistant", "content": "Yo", "reasoning_content": "hm"}], None)
    recipe = from_axolotl({"base_model": "t", "datasets": [{"path": "org/data", "type": "chat_template",
                                                            "field_thinking": "thought"}]})
    assert recipe.sources[0].convert.mappings == {"role": "role", "content": "content", "reasoning_content": "thought"}


def test_top_level_data_options(tmp_path, qwen_path):
    recipe = from_axolotl({"base_model": "org/model", "tokenizer_config": qwen_path, "sequence_len": 64,
                           "excess_length_strategy": "truncate", "val_set_size": 2, "sample_packing": True,
                           "shuffle_merged_datasets": False, "seed": 7, "dataset_exact_deduplication": True,
                           "dataset_processes": 2, "special_tokens": {"pad_token": "<|endoftext|>"},
                           "chat_template": "tokenizer_default",
                           "datasets": [{"path": "org/data", "type": "chat_template", "split": "train[:10]"}]})
    assert (recipe.tokenizer, recipe.max_length, recipe.pack, recipe.test_size, recipe.shuffle, recipe.seed,
            recipe.dedupe, recipe.num_proc) == (qwen_path, 64, 64, 2, False, 7, True, 2)
    source = recipe.sources[0]
    assert (source.name, source.hub, source.split, source.options) == (
        "data", "org/data", "train[:10]",
        {"train_on_inputs": False, "max_length_strategy": "truncate", "format": "openai", "train_on_eot": "turn"})


def test_sequence_len_and_excess_length_strategy(tmp_path, qwen_path):
    long = [{"conversations": CHAT}, {"conversations": CHAT[:3]}]  # 33 and 20 tokens
    assert [len(r["input_ids"]) for r in _rows(_config(tmp_path, qwen_path, long, sequence_len=24,
                                                       shuffle_merged_datasets=False))] == [20]  # drop: the default
    rows = _rows(_config(tmp_path, qwen_path, long, sequence_len=24, excess_length_strategy="truncate",
                         shuffle_merged_datasets=False))
    assert [r["input_ids"] for r in rows] == [IDS[:24], IDS[:20]]
    assert [trained_positions(r) for r in rows] == [[17, 18], [17, 18]]
    with pytest.raises(SFTPrepError, match=r"^axolotl: excess_length_strategy: 'cut'; expected one of drop, truncate, "
                                           r"raise\.$"):
        from_axolotl(_config(tmp_path, qwen_path, long, sequence_len=24, excess_length_strategy="cut"))


def test_chat_template_jinja_file(tmp_path, qwen_path):
    template = tmp_path / "t.jinja"
    template.write_text("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
                        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    (row,) = _rows(_config(tmp_path, qwen_path, [{"conversations": CHAT[1:]}], chat_template="jinja",
                           chat_template_jinja=str(template)))
    assert (row["input_ids"], trained_positions(row)) == (IDS[8:], [9, 10, 22, 23])  # no default system block
    with pytest.raises(SFTPrepError, match=r"^axolotl: chat_template_jinja: hf_sftprep reads the template from a file; "
                                           r"save the template text to a \.jinja file and give its path\.$"):
        from_axolotl(_config(tmp_path, qwen_path, [], chat_template="jinja", chat_template_jinja="{{ x }}"))


def test_type_alpaca_is_the_stanford_prompt(tmp_path, qwen_path):
    """Axolotl's example examples/archived/qwen/lora.yml. Its alpaca prompt ends '### Response:\\n' and tokenizes the
    response on its own; ours is Stanford's ('### Response:' then the output): a listed difference."""
    rows = [{"instruction": "Add", "input": "1+1", "output": "2"}]
    cfg = _fixture("axolotl_qwen_lora.yml", tmp_path, qwen_path, rows, val_set_size=0)
    (row,) = _rows(cfg)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(qwen_path)
    assert tok.decode(row["input_ids"]).endswith("### Input:\n1+1\n\n### Response:2<|im_end|>")
    assert tok.decode([row["input_ids"][k] for k in trained_positions(row)]) == "2<|im_end|>"
    with pytest.raises(SFTPrepError, match=r"^axolotl: datasets\[0\] \(.*\): roles_to_train is a chat_template option; "
                                           r"type: alpaca reads instruction, input and output columns only\.$"):
        from_axolotl({**cfg, "datasets": [{**cfg["datasets"][0], "roles_to_train": ["assistant"]}]})


def test_lfm2_example_split_eot_tokens_val_set_size_and_packing(tmp_path, qwen_path):
    """Axolotl's examples/LiquidAI/lfm2-350m-fft.yaml as written (LFM2's template is ChatML: Qwen2.5's stands in)."""
    rows = [{"conversations": [dict(m, value=f"{m['value']} {i}") for m in CHAT]} for i in range(20)]
    cfg = _fixture("axolotl_LiquidAI_lfm2-350m-fft.yaml", tmp_path, qwen_path, rows)
    recipe = from_axolotl(cfg)
    assert (recipe.max_length, recipe.pack, recipe.test_size, recipe.sources[0].split) == (4096, 4096, 0.05, "train[:20%]")
    assert recipe.sources[0].options["end_of_turn"] == "<|im_end|>"
    ds = run_recipe(recipe)[0]
    assert (ds["train"].num_rows, ds["test"].num_rows) == (1, 1)  # 20% of 20 rows, 0.05 of them (rounded up) to test
    (packed,) = list(ds["train"])
    assert len(packed["seq_lengths"]) == 3 and len(packed["input_ids"]) == sum(packed["seq_lengths"])
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(qwen_path)
    first = [tok.decode([packed["input_ids"][k]]) for k in trained_positions(packed) if k < packed["seq_lengths"][0]]
    assert first == ["Hello", " ", "0", "<|im_end|>", "Later", " ", "0", "<|im_end|>"]
    assert len(trained_positions(packed)) == 3 * 8


def test_llama3_example_with_the_tokenizers_template(tmp_path, llama3_path):
    """Axolotl's examples/llama-3/instruct-lora-8b.yml: chat_template: llama3 is refused; tokenizer_default runs."""
    rows = [{"messages": [{"role": "user", "content": f"Hi {i}"}, {"role": "assistant", "content": "Hello"}]}
            for i in range(20)]
    with pytest.raises(SFTPrepError, match=re.escape(
            "axolotl: chat_template: 'llama3' is Axolotl's own template registry entry, not the tokenizer's template; "
            "hf_sftprep renders with the tokenizer's template. Use chat_template: tokenizer_default, or save the "
            "template text to a file and set chat_template: jinja with chat_template_jinja: FILE at the top level.")):
        from_axolotl(_fixture("axolotl_llama-3_instruct-lora-8b.yml", tmp_path, llama3_path, rows))
    cfg = _fixture("axolotl_llama-3_instruct-lora-8b.yml", tmp_path, llama3_path, rows, chat_template="tokenizer_default")
    ds = run_recipe(from_axolotl(cfg))[0]
    assert (ds["train"].num_rows, ds["test"].num_rows) == (19, 1)
    row = ds["train"][0]
    assert row["input_ids"][-2:] == [9906, 128009]  # "Hello", <|eot_id|>
    assert [row["labels"][k] for k in trained_positions(row)] == [9906, 128009]


def test_gemma2_example_refused_then_drop_system_message(tmp_path, qwen_path):
    """Axolotl's examples/gemma2/qlora.yml: chat_template: gemma is refused; without it, drop_system_message runs."""
    rows = [{"conversations": CHAT}]
    with pytest.raises(SFTPrepError, match=r"^axolotl: chat_template: 'gemma' is Axolotl's own template registry entry"):
        from_axolotl(_fixture("axolotl_gemma2_qlora.yml", tmp_path, qwen_path, rows))
    cfg = _fixture("axolotl_gemma2_qlora.yml", tmp_path, qwen_path, rows, chat_template=None, eot_tokens=None)
    (row,) = _rows(cfg)
    assert (row["input_ids"], trained_positions(row)) == (NO_SYSTEM, [30, 31, 43, 44])


# -- refused options: the exact message -------------------------------------------------------------
@pytest.mark.parametrize(("entry", "message"), [
    ({"chat_template": "chatml"}, "chat_template: 'chatml' is Axolotl's own template registry entry, not the "
                                  "tokenizer's template"),
    ({"type": "sharegpt"}, "type: sharegpt is deprecated in Axolotl itself; write type: chat_template, field_messages: "
                           "conversations, message_property_mappings: {role: from, content: value}."),
    ({"type": "completion"}, "type: 'completion' is not supported; expected one of chat_template, alpaca (other types "
                             "are Axolotl's own prompt formats: use type: chat_template)."),
    ({"conversation": "chatml"}, "conversation is not supported: a FastChat conversation template is Axolotl's own "
                                 "prompt registry; use type: chat_template (the tokenizer's template)."),
    ({"roles_to_train": ["assistant", "user"]}, "roles_to_train: ['assistant', 'user'] trains role(s) ['user']; "
                                                "hf_sftprep trains assistant turns only, whose labels it verifies against "
                                                "the template. Use roles_to_train: [assistant], or train on every token "
                                                "with train_on_inputs: true."),
    ({"roles_to_train": []}, "roles_to_train: [] without message_field_training trains no turn; use roles_to_train: "
                             "[assistant], or flag the trained messages with message_field_training."),
    ({"train_on_eos": "turn", "train_on_eot": "last"}, "train_on_eos='turn' and train_on_eot='last' differ; hf_sftprep "
                                                       "has one end of turn per template (the probed one), so give one "
                                                       "value."),
    ({"train_on_eos": "first"}, "train_on_eos='first' is not supported; expected one of 'turn', 'last', 'none', 'all'."),
    ({"template_thinking_key": "thinking"}, "template_thinking_key: 'thinking'; hf_sftprep passes reasoning to the "
                                            "template as reasoning_content (and thinking); remove the key."),
    ({"split_thinking": True}, "split_thinking is not supported: write the reasoning into a field (field_thinking) "
                               "instead of inline <think> tags."),
    ({"message_field_training_detail": "detail"}, "message_field_training_detail is not supported: per-character "
                                                  "training spans inside a message are not on the verified label path; "
                                                  "split the message, or use message_field_training per message."),
    ({"data_files": ["a.json"]}, "data_files is not supported: point path at the data file (or a directory of them) "
                                 "instead."),
    ({"name": "subset"}, "name is not supported: a hub dataset's config name; hf_sftprep loads hub datasets without "
                         "one. Download that config's files and point path at them."),
    ({"trust_remote_code": True}, "trust_remote_code is not supported: hf_sftprep runs no dataset scripts; convert the "
                                  "data to files."),
    ({"chat_template_jinja": "{{ x }}"}, "chat_template_jinja is not supported: set chat_template_jinja at the top "
                                         "level (one template per recipe)."),
    ({"feild_messages": "conversations"}, "unknown key 'feild_messages'; expected one of path, split, type, "
                                          "chat_template, field_messages,"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None)
def test_refused_dataset_options(entry, message):
    cfg = {"base_model": "t", "datasets": [{"path": "org/data", "type": "chat_template", **entry}]}
    with pytest.raises(SFTPrepError, match="^" + re.escape("axolotl: datasets[0] (org/data): " + message)):
        from_axolotl(cfg)


@pytest.mark.parametrize(("top", "message"), [
    ({"rl": "dpo"}, "rl is not supported: preference / RL data (DPO, KTO, ORPO, GRPO) is not SFT records."),
    ({"processor_type": "AutoProcessor"}, "processor_type is not supported: image, video and audio inputs are not text "
                                          "SFT; hf_sftprep prepares text only."),
    ({"default_system_message": "Be kind."}, "default_system_message is not supported: add the system message to the "
                                             "records (or a hf_sftprep recipe's system_prompt)."),
    ({"special_tokens": {"eos_token": "<|x|>"}}, "special_tokens is not supported: set the tokens on the tokenizer and "
                                                 "save it, then point base_model at that folder"),
    ({"tokens": ["<x>"]}, "tokens is not supported: add the tokens to the tokenizer and save it, then point base_model "
                          "at that folder."),
    ({"chat_template_kwargs": {"enable_thinking": False}}, "chat_template_kwargs is not supported: template arguments "
                                                           "are not passed to rendering;"),
    ({"pretraining_dataset": "org/text"}, "pretraining_dataset is not supported: pretraining text is not SFT records."),
    ({"test_datasets": [{"path": "x"}]}, "test_datasets is not supported: hf_sftprep splits a test set off with "
                                         "val_set_size; remove test_datasets."),
    ({"skip_prepare_dataset": True}, "skip_prepare_dataset is not supported: hf_sftprep's output is the prepared "
                                     "dataset; remove it."),
    ({"chat_template": "llama3"}, "chat_template: 'llama3' is Axolotl's own template registry entry"),
    ({"eot_tokens": ["<|im_end|>", "<|endoftext|>"]}, "eot_tokens: ['<|im_end|>', '<|endoftext|>']; hf_sftprep takes "
                                                      "one end-of-turn text"),
    ({"sequence_len": None, "sample_packing": True}, "sample_packing: true packs to sequence_len, which is not set; set "
                                                     "sequence_len."),
    ({"val_set_size": 1.5}, "val_set_size: 1.5 is neither a fraction in (0, 1) nor a row count >= 1."),
    ({"base_model": None}, "base_model (or tokenizer_config) is missing; name the model whose tokenizer prepares the "
                           "data."),
    ({"datasets": []}, "datasets: is missing or empty; list the SFT datasets (path and type)."),
], ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None)
def test_refused_top_level_options(top, message):
    cfg = {"base_model": "t", "datasets": [{"path": "org/data", "type": "chat_template"}], **top}
    with pytest.raises(SFTPrepError, match="^" + re.escape("axolotl: " + message)):
        from_axolotl(cfg)


def test_refused_rows(tmp_path, qwen_path):
    flagged = [dict(m) for m in CHAT]
    flagged[1]["train"] = True
    cfg = _config(tmp_path, qwen_path, [{"conversations": CHAT}, {"conversations": flagged}],
                  {"message_field_training": "train"})
    with pytest.raises(SFTPrepError, match=re.escape(
            "row 1: message 1 has role 'user' and train: true; hf_sftprep trains assistant turns only (their labels "
            "are verified against the template). Set it to false, or drop such rows with on_invalid='drop'.")):
        run_recipe(from_axolotl(cfg))
    ds, report, _ = run_recipe(from_axolotl(cfg, on_invalid="drop"))
    # counted under the converter's own reason, and its marker column is not kept
    assert ds.num_rows == 1 and report.to_dict()["dropped"] == {"trained_role": 1}
    assert "hf_sftprep_refused" not in ds.column_names
    parts = [{"role": "user", "content": "Hi"},
             {"role": "assistant", "content": [{"type": "text", "text": "Yo", "train": False}]}]
    with pytest.raises(SFTPrepError, match=re.escape("row 0: message 1 has content parts with 'train' / 'weight' flags")):
        AxolotlRows("messages", {"role": "role", "content": "content"}, None, None).convert(0, {"messages": parts})


def test_missing_config_file(tmp_path):
    with pytest.raises(SFTPrepError, match=re.escape(f"axolotl: {str(tmp_path / 'no.yml')!r}: no such file; pass the "
                                                     "config file itself.")):
        from_axolotl(tmp_path / "no.yml")


# -- the CLI ----------------------------------------------------------------------------------------
def test_cli_build_axolotl(tmp_path, qwen_path, capsys):
    cfg = _config(tmp_path, qwen_path, [{"conversations": CHAT}])
    (tmp_path / "ax.yml").write_text(yaml.safe_dump(cfg))
    assert main(["build", "--axolotl", str(tmp_path / "ax.yml"), "--out", str(tmp_path / "out")]) == 0
    (row,) = list(load_from_disk(str(tmp_path / "out")))
    assert (row["input_ids"], trained_positions(row), row["source"]) == (IDS, [17, 18, 30, 31], "c")
    assert main(["build", "--axolotl", str(tmp_path / "ax.yml"), "--out", str(tmp_path / "o2"), "--max-length", "9"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "hf-sftprep: error: --max-length is set by the axolotl config (sequence_len); drop --max-length.")
    assert main(["build", "--axolotl", str(tmp_path / "ax.yml"), "--out", str(tmp_path / "o2"), "--dataset", "a"]) == 2
    assert capsys.readouterr().err.strip() == ("hf-sftprep: error: --dataset is a --llamafactory flag; the Axolotl "
                                               "config sets it (datasets:, sequence_len, val_set_size). Drop it.")
    cfg["chat_template"] = "chatml"
    (tmp_path / "ax.yml").write_text(yaml.safe_dump(cfg))
    assert main(["build", "--axolotl", str(tmp_path / "ax.yml"), "--out", str(tmp_path / "o3")]) == 2
    assert "hf-sftprep: error: axolotl: chat_template: 'chatml' is Axolotl's own" in capsys.readouterr().err
