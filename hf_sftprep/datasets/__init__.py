"""``Dataset.map`` glue: the ``SFTPreprocessor`` batch function, generation prompts, mixtures, packing and
the prepared-data report; the trainer adapter and the CLI use these.

``prepare()`` and ``pack()`` stay in :mod:`.prepare` and :mod:`.pack` (the package root exports them): a
re-export here would hide those modules behind the functions. ``prepare_on_ray`` is loaded on first use,
since Ray is an optional extra.
"""

from .mixture import MixtureReport, build_mixture, run_recipe
from .pack import PackReport
from .prepare import generation_prompts
from .preprocess import SFTPreprocessor
from .stats import PrepReport, stats_for_splits, trained_per_row

__all__ = [
    "MixtureReport",
    "PackReport",
    "PrepReport",
    "SFTPreprocessor",
    "build_mixture",
    "generation_prompts",
    "prepare_on_ray",
    "run_recipe",
    "stats_for_splits",
    "trained_per_row",
]


def __getattr__(name: str):
    if name == "prepare_on_ray":
        from .distributed import prepare_on_ray

        return prepare_on_ray
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
