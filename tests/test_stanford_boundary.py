"""Stanford prompts end in '### Response:' with the output straight after: where the BPE would merge the
':' with the output's first letters, the row is the prompt's ids then the response's (issue 28, bug 1)."""

from datasets import Dataset

from hf_sftprep import prepare, verify
from hf_sftprep.tokens.stanford import split_ids

ROW = {"instruction": "Say hi.", "input": "", "output": "The answer is hi."}


def test_llama3_response_colon_no_longer_swallows_the_first_word(llama3):
    whole = llama3("### Response:The answer", add_special_tokens=False)["input_ids"]
    assert whole == [14711, 6075, 75145, 4320]  # ':The' is one token of the whole text
    row = prepare(Dataset.from_list([ROW]), llama3, alpaca_prompt="stanford")[0]
    assert row["input_ids"][-9:] == [14711, 6075, 25, 791, 4320, 374, 15960, 13, 128009]
    assert row["labels"][-9:] == [-100, -100, -100, 791, 4320, 374, 15960, 13, 128009]
    assert sum(lab != -100 for lab in row["labels"]) == 6  # the answer's 5 tokens and the EOS, nothing else
    assert row["input_ids"][: len(row["input_ids"]) - 6] == llama3(
        "Below is an instruction that describes a task. Write a response that appropriately completes the "
        "request.\n\n### Instruction:\nSay hi.\n\n### Response:")["input_ids"]


def test_qwen_leading_newline_is_trained_and_verify_agrees(qwen):
    rows = [ROW, {"instruction": "Add.", "input": "1 2", "output": "\n3"}]
    raw = Dataset.from_list(rows)
    ds = prepare(raw, qwen, alpaca_prompt="stanford")
    assert ds[0]["input_ids"][-9:] == [14374, 5949, 25, 785, 4226, 374, 15588, 13, 151645]
    assert ds[0]["labels"][-6:] == [785, 4226, 374, 15588, 13, 151645] and ds[0]["labels"][-7] == -100
    tail = ds[1]["input_ids"][-4:]
    assert qwen.convert_ids_to_tokens(tail) == [":", "Ċ", "3", "<|im_end|>"]
    assert ds[1]["labels"][-4:] == [-100, *tail[1:]]
    report = verify(ds, qwen, raw=raw, alpaca_prompt="stanford")
    assert (report.checked, report.matching) == (2, 2)
    both = prepare(raw, qwen, alpaca_prompt="stanford", train_on_inputs=True)
    assert both["input_ids"] == ds["input_ids"]  # the same ids whether or not the prompt is trained
    assert all(lab == i for r in both for lab, i in zip(r["labels"], r["input_ids"]))


def test_rows_without_a_straddle_keep_the_whole_text_ids(llama3):
    row = {"instruction": "x", "input": "", "output": " spaced"}
    ids = prepare(Dataset.from_list([row]), llama3, alpaca_prompt="stanford")[0]["input_ids"]
    text = ("Below is an instruction that describes a task. Write a response that appropriately completes the "
            "request.\n\n### Instruction:\nx\n\n### Response: spaced" + llama3.eos_token)
    assert ids == llama3(text)["input_ids"]


def test_split_refused_where_it_would_spell_another_text(mistral):
    tok = mistral("v1")  # SentencePiece: a separate encoding opens with '▁', a space the whole text lacks
    whole = tok("a:The", add_special_tokens=True)["input_ids"]
    assert split_ids(tok, "a:", "The", whole) is None
    qwen_like = mistral("v3-tekken")  # byte-level BPE without a prefix space: the split spells the same text
    whole = qwen_like("a:The", add_special_tokens=True)["input_ids"]
    ids, head = split_ids(qwen_like, "a:", "The", whole)
    assert qwen_like.decode(ids[head:]) == "The"
