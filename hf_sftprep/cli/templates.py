"""``hf-sftprep template``: what the probe learns about a chat template, for one tokenizer or the whole zoo."""

from __future__ import annotations

from ..templates.probe import probe_template
from ..templates.spec import TemplateSpec


def _cell(text: str) -> str:
    return "`" + text.replace("\n", "\\n").replace("|", "\\|") + "`" if text else ""


def spec_row(name: str, spec: TemplateSpec) -> str:
    """One markdown table row: family, prompt, closing, what else is trained, tool calls."""
    notes = spec.notes(quote=_cell)
    tools = "yes" if spec.tool_rounds else ("calls only (tool rounds refused)" if spec.renders_tool_calls else "no")
    closes = " or ".join(_cell(t) for t in spec.end_of_turn)
    return f"| {name} | {_cell(spec.assistant_header)} | {closes} | {'; '.join(notes)} | {tools} |"


HEADER = (
    "| family | generation prompt (not trained) | closing (trained) | also | tool calls |\n"
    "|---|---|---|---|---|"
)


def zoo_table(cache_dir: str) -> str:
    """The markdown table for every family in the offline template zoo."""
    from ..testing.zoo import ZOO_FAMILIES, zoo_tokenizer

    rows = [spec_row(name, probe_template(zoo_tokenizer(name, cache_dir))) for name in ZOO_FAMILIES]
    return HEADER + "\n" + "\n".join(rows)


def describe(tokenizer) -> str:
    """Every field of the probed spec, one per line."""
    spec = probe_template(tokenizer)
    lines = [spec.describe()]
    lines += [f"  {k}: {v!r}" for k, v in spec.to_dict().items()]
    return "\n".join(lines)


def families_table(cache_dir: str) -> str:
    """The markdown table for the published templates outside TRL's folder (one row per named template)
    and the real Mistral tokenizers."""
    from ..templates.probe import with_template
    from ..testing.families import FAMILIES, MISTRAL_KINDS, family_tokenizer, mistral_tokenizer

    rows = []
    for name in FAMILIES:
        tok = family_tokenizer(name, cache_dir)
        if isinstance(tok.chat_template, dict):
            for label in ("default", "tool_use"):
                if label in tok.chat_template:
                    rows.append(_probed_row(f"{name} ({label})", with_template(tok, label)))
        else:
            rows.append(_probed_row(name, tok))
    rows += [_probed_row(f"Mistral {kind} (real tokenizer)", mistral_tokenizer(kind, cache_dir)) for kind in MISTRAL_KINDS]
    return HEADER + "\n" + "\n".join(rows)


def _probed_row(name: str, tokenizer) -> str:
    try:
        return spec_row(name, probe_template(tokenizer))
    except Exception as err:  # a template the probe refuses is listed with its reason
        return f"| {name} | refused: {str(err).split('. ')[0]} | | | |"
