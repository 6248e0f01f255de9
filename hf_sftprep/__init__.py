"""hf_sftprep: correct, fast, cached SFT data preparation for Hugging Face datasets."""

__version__ = "0.1.0"

from .batching import length_grouped_batches, padding_waste  # noqa: E402
from .collator import SFTDataCollator  # noqa: E402
from .errors import OptionError, RowError, SFTPrepError, TemplateError  # noqa: E402
from .masking import IGNORE_INDEX  # noqa: E402
from .preprocess import SFTPreprocessor  # noqa: E402
from .pipeline import generation_prompts, prepare  # noqa: E402
from .stats import PrepReport  # noqa: E402
from .template import TemplateSpec, probe_template  # noqa: E402
from .trainer import build_trainer  # noqa: E402

__all__ = [
    "IGNORE_INDEX",
    "OptionError",
    "PrepReport",
    "RowError",
    "SFTDataCollator",
    "SFTPrepError",
    "SFTPreprocessor",
    "TemplateError",
    "TemplateSpec",
    "__version__",
    "build_trainer",
    "generation_prompts",
    "length_grouped_batches",
    "padding_waste",
    "probe_template",
    "prepare",
]
