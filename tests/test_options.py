"""options.py: every choice in one place, one check, one message format."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from hf_sftprep import OptionError, SFTPrepError, SFTPreprocessor
from hf_sftprep.cli.main import _parser
from hf_sftprep.options import Format, OnInvalid, PrepOptions, TrainOn, check_choice, choices


def test_choices_of_a_literal_and_of_a_sequence():
    assert choices(Format) == ("auto", "openai", "alpaca", "sharegpt")
    assert choices(("x", "y")) == ("x", "y")


def test_check_choice_message_and_prefix():
    with pytest.raises(OptionError, match=r"^on_invalid='skip' is not supported; expected one of 'error', 'drop'\.$"):
        check_choice("on_invalid", "skip", OnInvalid)
    with pytest.raises(OptionError, match=r"^recipe: train_on='first' is not supported; expected one of 'all', 'last'\.$"):
        check_choice("train_on", "first", TrainOn, prefix="recipe: ")
    check_choice("train_on", "last", TrainOn)


def test_prep_options_check_every_choice_and_the_length():
    with pytest.raises(OptionError, match=r"^truncation_side='middle' is not supported; expected one of 'right', 'left'\.$"):
        PrepOptions(truncation_side="middle")
    with pytest.raises(SFTPrepError, match=r"^max_length=0 is not a positive int; pass a positive int, or None for no limit\.$"):
        PrepOptions(max_length=0)


def test_prep_options_are_frozen_and_copy_the_maps():
    role_map = {"human": "user"}
    opts = PrepOptions(role_map=role_map)
    role_map["gpt"] = "assistant"
    assert opts.role_map == {"human": "user"}
    with pytest.raises(AttributeError):
        opts.train_on = "last"
    assert dataclasses.replace(opts, train_on="last").train_on == "last" and opts.train_on == "all"


def test_the_field_order_is_the_cache_key_order(llama3):
    # the fingerprint hashes this dict; its keys and order are those of the 0.3 options dict, then the new ones
    assert list(PrepOptions().to_dict())[:17] == [
        "format", "column_map", "role_map", "alpaca_prompt", "train_on", "train_on_inputs", "max_length",
        "truncation_side", "max_length_strategy", "on_invalid", "special_tokens_in_content", "assistant_header",
        "end_of_turn", "emit_meta", "dedupe_pieces", "backend", "features",
    ]
    pre = SFTPreprocessor(llama3, max_length=64, train_on="last")
    assert pre.cache_options() == {k: v for k, v in pre.options.to_dict().items() if k != "backend"}
    assert pickle.loads(pickle.dumps(pre)).options == pre.options


def test_argparse_choices_come_from_the_literals():
    build = _parser()._subparsers._group_actions[0].choices["build"]
    by_flag = {a.option_strings[0]: a.choices for a in build._actions if a.option_strings}
    assert tuple(by_flag["--format"]) == choices(Format)
    assert tuple(by_flag["--on-invalid"]) == choices(OnInvalid)
    assert tuple(by_flag["--train-on"]) == choices(TrainOn)
