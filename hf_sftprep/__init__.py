"""hf_sftprep: correct, fast, cached SFT data preparation for Hugging Face datasets."""

__version__ = "0.1.0"

from .errors import OptionError, RowError, SFTPrepError, TemplateError  # noqa: E402
from .masking import IGNORE_INDEX  # noqa: E402
from .preprocess import SFTPreprocessor  # noqa: E402
from .pipeline import generation_prompts, prepare  # noqa: E402
from .stats import PrepReport  # noqa: E402
from .template import TemplateSpec, probe_template  # noqa: E402

__all__ = [
    "IGNORE_INDEX",
    "OptionError",
    "PrepReport",
    "RowError",
    "SFTPrepError",
    "SFTPreprocessor",
    "TemplateError",
    "TemplateSpec",
    "__version__",
    "generation_prompts",
    "probe_template",
    "prepare",
]
