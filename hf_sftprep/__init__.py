"""hf_sftprep: correct, fast, cached SFT data preparation for Hugging Face datasets."""

from ._version import __version__
from .datasets.check import VerifyReport, verify
from .datasets.mixture import MixtureReport, build_mixture
from .datasets.pack import PackReport, pack
from .datasets.peers import from_axolotl, from_llamafactory
from .datasets.prepare import prepare
from .datasets.prompts import generation_prompts
from .datasets.preprocess import SFTPreprocessor
from .datasets.stats import PrepReport
from .errors import OptionError, RowError, SFTPrepError, TemplateError
from .templates.probe import TemplateSpec, probe_template
from .tokens.masking import IGNORE_INDEX
from .train.batching import length_grouped_batches, padding_waste
from .train.collator import SFTDataCollator
from .train.trainer import build_trainer

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
    "VerifyReport",
    "__version__",
    "build_trainer",
    "build_mixture",
    "from_axolotl",
    "from_llamafactory",
    "generation_prompts",
    "length_grouped_batches",
    "pack",
    "padding_waste",
    "prepare_on_ray",
    "probe_template",
    "prepare",
    "verify",
]


def __getattr__(name: str):
    # Ray is an optional extra, so datasets/distributed.py is imported on first use, not with the package
    if name == "prepare_on_ray":
        from .datasets.distributed import prepare_on_ray

        return prepare_on_ray
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
