"""``Dataset.map`` glue: the ``SFTPreprocessor`` batch function, generation prompts, mixtures, packing and
the prepared-data report; the trainer adapter and the CLI use these.

``prepare()``, ``pack()`` and ``verify()`` stay in :mod:`.prepare`, :mod:`.pack` and :mod:`.check`, and
``prepare_on_ray`` in :mod:`.distributed` (the package root exports all four): re-exported here, the first two
would hide their modules behind the functions, ``verify`` would hide the shape check's module
(:mod:`.verify`), and the last would load the Ray path with every import.
"""

from .check import VerifyReport
from .mixture import MixtureReport, build_mixture, run_recipe
from .pack import PackReport
from .peers import from_axolotl, from_llamafactory
from .prompts import generation_prompts
from .preprocess import SFTPreprocessor
from .stats import PrepReport, stats_for_splits, trained_per_row

__all__ = [
    "MixtureReport",
    "PackReport",
    "PrepReport",
    "SFTPreprocessor",
    "VerifyReport",
    "build_mixture",
    "from_axolotl",
    "from_llamafactory",
    "generation_prompts",
    "run_recipe",
    "stats_for_splits",
    "trained_per_row",
]

