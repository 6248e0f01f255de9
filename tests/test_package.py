"""The package's interfaces: the root's exports (``prepare_on_ray`` loaded on first use) and each layer's
``__all__``."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import hf_sftprep
import hf_sftprep.datasets.distributed

INTERFACES = {
    "records": ["FORMATS", "FORMAT_CHOICES", "ROLES", "ChatLayout", "Conversation", "RecordFormat",
                "detect_format", "record_columns", "stanford_prompt", "to_conversation", "turn_flags"],
    "templates": ["Renderer", "TemplateSpec", "adapt_tool_calls", "added_token_splitter", "check_renderable",
                  "check_specials", "check_unicode", "common_prefix_len", "conversation_openers", "find_control_string",
                  "find_tool_control_string", "probe_template", "quiet_renderer", "reference_regions",
                  "sentinel_conversation", "shape_key", "special_pattern", "special_strings", "turn_char_spans",
                  "warn_if_eot_not_eos", "with_template"],
    "tokens": ["IGNORE_INDEX", "STILL_BUILDING", "Batch", "Encoder", "TurnSearch", "build_labels", "char_span_mask",
               "count_per_row", "encode_batch", "encode_ids", "find_turns", "label_chat", "label_stanford",
               "offsets_trained_mask", "piece_independent", "redo_exact", "select_turns", "span_mask", "split_pattern",
               "take_rows", "tokenize_pieced", "truncate_batch", "worth_deduping"],
    "datasets": ["MixtureReport", "PackReport", "PrepReport", "SFTPreprocessor", "VerifyReport", "build_mixture",
                 "from_axolotl", "from_llamafactory", "generation_prompts", "run_recipe", "stats_for_splits", "trained_per_row"],
    "train": ["SFTDataCollator", "build_trainer", "length_grouped_batches", "padding_waste"],
    "cli": [],
    "testing": ["FAMILIES", "MISTRAL_KINDS", "ZOO_FAMILIES", "family_tokenizer", "llama3_tokenizer",
                "mistral_tokenizer", "qwen2_5_tokenizer", "smollm2_checkpoint", "smollm2_tokenizer",
                "trl_template", "zoo_tokenizer"],
}


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_package_leaves_ray_unloaded():
    code = "import sys, hf_sftprep; print('ray' in sys.modules, 'hf_sftprep.datasets.distributed' in sys.modules)"
    assert _python(code) == "False False"


def test_prepare_on_ray_at_the_root():
    assert "prepare_on_ray" in hf_sftprep.__all__
    assert hf_sftprep.prepare_on_ray is hf_sftprep.datasets.distributed.prepare_on_ray
    from hf_sftprep import prepare_on_ray

    assert prepare_on_ray is hf_sftprep.datasets.distributed.prepare_on_ray
    with pytest.raises(AttributeError, match=r"^module 'hf_sftprep' has no attribute 'prepare_on_rays'$"):
        hf_sftprep.prepare_on_rays  # noqa: B018


def test_every_root_export_resolves():
    assert sorted(n for n in hf_sftprep.__all__ if not hasattr(hf_sftprep, n)) == []


def test_every_layer_imports_without_a_cycle():
    code = "import hf_sftprep.records, hf_sftprep.templates, hf_sftprep.tokens, hf_sftprep.datasets, " \
           "hf_sftprep.train, hf_sftprep.cli, hf_sftprep.testing; print('ok')"
    assert _python(code) == "ok"


@pytest.mark.parametrize("layer", sorted(INTERFACES))
def test_layer_interface(layer):
    package = importlib.import_module(f"hf_sftprep.{layer}")
    assert package.__all__ == INTERFACES[layer]
    for name in package.__all__:
        value = getattr(package, name)
        home = getattr(value, "__module__", None)
        if home is not None and home.startswith(f"hf_sftprep.{layer}."):
            # the re-export is the object its own module defines, not a copy
            assert getattr(importlib.import_module(home), name) is value
