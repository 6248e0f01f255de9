"""benchmarks/peer_configs.py without the peers (CI never has them): the row comparison, the turn lookup and the
difference classes on literal rows, and every case's config read by from_axolotl / from_llamafactory."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import peer_configs as pc  # noqa: E402

from hf_sftprep import from_axolotl, from_llamafactory  # noqa: E402

F, T = False, True
# Qwen2.5: <|im_start|>assistant \n\n Hello <|im_end|> \n  (an answer opening with "\n": the header's "\n" merges)
STRADDLE = [151644, 77091, 271, 9707, 151645, 198]
# Qwen2.5: <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nYo<|im_end|>\n
CHAT = [151644, 872, 198, 13048, 151645, 198, 151644, 77091, 198, 64725, 151645, 198]
CHAT_TRAINED = [F] * 9 + [T, T, F]


def test_row_diff_equal_labels_and_ids():
    assert pc.row_diff((CHAT, CHAT_TRAINED), (CHAT, CHAT_TRAINED)) == []
    lf = CHAT_TRAINED[:-1] + [T]  # LLaMA-Factory trains the "\n" after <|im_end|>
    assert pc.row_diff((CHAT, lf), (CHAT, CHAT_TRAINED)) == [{"kind": "label", "side": "peer", "at": 11, "ours_at": 11}]
    assert pc.row_diff(([1, 2, 3, 4], [F, T, T, T]), ([1, 5, 3, 4], [F, T, T, F])) == [
        {"kind": "ids", "at": 1, "ours_at": 1, "peer": [2], "ours": [5], "peer_trained": [T], "ours_trained": [T]},
        {"kind": "label", "side": "peer", "at": 3, "ours_at": 3}]


def test_block_finds_the_turn_in_chatml_and_llama3():
    chatml = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
    assert pc.block(chatml, chatml.index("brief")) == ("system", "Be brief.")
    assert pc.block(chatml, chatml.index("Hi")) == ("user", "Hi")
    llama = "<|begin_of_text|><|start_header_id|>assistant<|end_header_id|>\n\nYo<|eot_id|>"
    assert pc.block(llama, llama.index("Yo")) == ("assistant", "Yo")
    assert pc.block("### Instruction:\nAdd", 5) == ("", "### Instruction:\nAdd")


def test_classes_on_real_qwen_rows(qwen):
    """The straddling header token and the trained newline, read off decoded Qwen2.5 rows."""
    def classes(peer, peer_row, ours_row):
        found = [pc.describe(u, peer_row[0], ours_row[0], qwen.decode) for u in pc.row_diff(peer_row, ours_row)]
        return pc.classify(peer, found)

    assert classes("axolotl", (STRADDLE, [F, F, T, T, T, F]), (STRADDLE, [F, F, F, T, T, F])) == \
        "straddling header token"
    assert classes("llamafactory", (CHAT, CHAT_TRAINED[:-1] + [T]), (CHAT, CHAT_TRAINED)) == \
        "newline after <|im_end|> trained"
    # the same difference is not a class of the other peer
    assert classes("axolotl", (CHAT, CHAT_TRAINED[:-1] + [T]), (CHAT, CHAT_TRAINED)) == "unexplained"


def _ids(before, peer, ours, peer_trained="", ours_trained="", where="", peer_block="", ours_block=""):
    return {"kind": "ids", "at": 9, "before": before, "in": where, "peer_block": peer_block, "ours_block": ours_block,
            "peer": peer, "ours": ours, "peer_trained": peer_trained, "ours_trained": ours_trained}


@pytest.mark.parametrize(("peer", "unit", "name"), [
    ("axolotl", _ids("today.\n\n### Response", ":\n", ":"), "alpaca prompt newline"),
    ("axolotl", _ids("today.\n\n### Response", ":\nThe", ":The", "The", ""),
     "ours leaves the alpaca answer's first token untrained"),
    ("axolotl", _ids("Cities.\n\n### Response:\n", "\n", "", "\n", ""),
     "ours leaves the alpaca answer's first token untrained"),
    ("axolotl", _ids("system\nYou are", " Qwen", " brief", where="system", peer_block=pc.QWEN_DEFAULT_SYSTEM,
                     ours_block="You are brief."), "Axolotl ignores field_system (peer bug)"),
    ("llamafactory", _ids("<tools>\n{\"", 'type": "function", "function": {"', "", where="system",
                          peer_block='<tools>\n{"type": "function", "function": {"name": "f"}}}\n</tools>',
                          ours_block='<tools>\n{"name": "f"}}\n</tools>'), "tool schemas wrapped"),
    ("llamafactory", _ids("a reference.", "  ", "", "  ", "", where="assistant"), "edge whitespace not trimmed"),
    ("llamafactory", _ids("<|im_start|>assistant", "\n\n", "\n\n", "\n", "", where="assistant"),
     "header and answer tokenized apart"),
    ("llamafactory", _ids("<|im_start|>assistant", "Hi", "Yo", "Hi", "Yo", where="assistant"), "unexplained"),
])
def test_each_class_on_a_literal_unit(peer, unit, name):
    assert pc.classify(peer, [unit]) == name


def test_a_row_with_two_classes_names_both():
    newline = {"kind": "label", "side": "peer", "at": 3, "before": "Yo<|im_end|>", "in": "assistant",
               "peer_block": "Yo", "ours_block": "Yo", "token": "\n"}
    spaces = _ids("a reference.", "  ", "", "  ", "", where="assistant")
    assert pc.classify("llamafactory", [newline, spaces]) == \
        "edge whitespace not trimmed + newline after <|im_end|> trained"


def test_every_case_config_is_read_by_ours(tmp_path):
    """Each case's config, written as the run writes it, is a recipe ours accepts (nothing is prepared here)."""
    for case in pc.axolotl_cases() + pc.llamafactory_cases():
        folder = tmp_path / pc._slug(f"{case.peer}-{case.name}")
        pc._write_case(case, folder, "org/tokenizer")
        if case.peer == "axolotl":
            recipe = from_axolotl(folder / "config.yml")
        else:
            recipe = from_llamafactory(folder / "dataset_info.json", case.config["name"], tokenizer="org/tokenizer")
        assert len(recipe.sources) == 1 and len(case.rows) >= pc.ROWS, case.name


def test_write_docs_replaces_only_between_the_markers(tmp_path):
    doc = tmp_path / "migrating.md"
    marks = [pc._marks(p) for p in pc.PEER_NAMES]
    doc.write_text("intro\n" + "".join(f"{a}\nSTALE\n{b}\nkept\n" for a, b in marks))
    result = {"case": "c", "peer": "axolotl", "options": "o", "note": "", "rows": 2, "compared": 2, "ids_equal": 2,
              "labels_equal": 1, "peer_dropped": [], "classes": {"straddling header token": 1},
              "differing_rows": [{"row": 1, "class": "straddling header token", "ids_equal": True, "units": [
                  {"kind": "label", "side": "peer", "at": 2, "before": "<|im_start|>assistant", "in": "assistant",
                   "peer_block": "", "ours_block": "", "token": "\n\n", "class": "straddling header token"}]}]}
    meta = {"versions": {"axolotl": {"axolotl": "0.19.0"}, "llamafactory": {"llamafactory": "0.9.5"}}, "ours": "x"}
    pc.write_docs([result], meta, doc)
    text = doc.read_text()
    assert text.startswith("intro\n") and text.count("kept\n") == 2 and "STALE" not in text
    assert "| c | o | 2/2 | 2 | 1 | straddling header token ×1 |" in text
    assert "row 1: Axolotl alone trains `\\n\\n` after `<\\|im_start\\|>assistant`" in text


def test_docstring_examples():
    import doctest

    assert doctest.testmod(pc).failed == 0
