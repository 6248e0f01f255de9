"""What a chat template looks like: the probe and its :class:`TemplateSpec`, rendering, control strings
and the shape check, which the dataset layer's ``SFTPreprocessor`` is built from.

``render()`` stays in :mod:`.render`: a re-export here would hide that module behind the function.
"""

from .controls import adapt_tool_calls, find_control_string, find_tool_control_string
from .probe import probe_template, warn_if_eot_not_eos, with_template
from .render import Renderer, special_pattern, special_strings
from .shapes import added_token_splitter
from .spec import TemplateSpec
from .verify import ShapeVerifier

__all__ = [
    "Renderer",
    "ShapeVerifier",
    "TemplateSpec",
    "adapt_tool_calls",
    "added_token_splitter",
    "find_control_string",
    "find_tool_control_string",
    "probe_template",
    "special_pattern",
    "special_strings",
    "warn_if_eot_not_eos",
    "with_template",
]
