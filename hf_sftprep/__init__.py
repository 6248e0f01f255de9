"""hf_sftprep: correct, fast, cached SFT data preparation for Hugging Face datasets."""

__version__ = "0.2.0"

from .train.batching import length_grouped_batches, padding_waste  # noqa: E402
from .train.collator import SFTDataCollator  # noqa: E402
from .errors import OptionError, RowError, SFTPrepError, TemplateError  # noqa: E402
from .tokens.masking import IGNORE_INDEX  # noqa: E402
from .datasets.preprocess import SFTPreprocessor  # noqa: E402
from .datasets.prepare import generation_prompts, prepare  # noqa: E402
from .datasets.pack import PackReport, pack  # noqa: E402
from .datasets.stats import PrepReport  # noqa: E402
from .datasets.mixture import MixtureReport, build_mixture  # noqa: E402
from .templates.probe import TemplateSpec, probe_template  # noqa: E402
from .train.trainer import build_trainer  # noqa: E402

__all__ = [
    "IGNORE_INDEX",
    "MixtureReport",
    "OptionError",
    "PackReport",
    "PrepReport",
    "RowError",
    "SFTDataCollator",
    "SFTPrepError",
    "SFTPreprocessor",
    "TemplateError",
    "TemplateSpec",
    "__version__",
    "build_trainer",
    "build_mixture",
    "generation_prompts",
    "length_grouped_batches",
    "pack",
    "padding_waste",
    "probe_template",
    "prepare",
]
