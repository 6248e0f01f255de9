"""What a chat template looks like: the probe and its :class:`TemplateSpec`, rendering, what a template
may render (the control-string policy), where turns are in a rendered text, and the independent
reference the dataset layer's shape check holds the spec to.

``render()`` stays in :mod:`.render`: a re-export here would hide that module behind the function.
"""

from .controls import adapt_tool_calls, find_control_string, find_tool_control_string
from .policy import check_renderable, check_specials, check_unicode
from .probe import probe_template, warn_if_eot_not_eos, with_template
from .reference import conversation_openers, reference_regions
from .render import Renderer, quiet_renderer, special_pattern, special_strings
from .shapes import added_token_splitter, sentinel_conversation, shape_key
from .spans import common_prefix_len, turn_char_spans
from .spec import TemplateSpec

__all__ = [
    "Renderer",
    "TemplateSpec",
    "adapt_tool_calls",
    "added_token_splitter",
    "check_renderable",
    "check_specials",
    "check_unicode",
    "common_prefix_len",
    "conversation_openers",
    "find_control_string",
    "find_tool_control_string",
    "probe_template",
    "quiet_renderer",
    "reference_regions",
    "sentinel_conversation",
    "shape_key",
    "special_pattern",
    "special_strings",
    "turn_char_spans",
    "warn_if_eot_not_eos",
    "with_template",
]
