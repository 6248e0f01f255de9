"""Peer configs as recipes: an Axolotl YAML or a LLaMA-Factory ``dataset_info.json`` -> a checked
:class:`~hf_sftprep.datasets.recipe.Recipe`, every option read as the peer reads it or refused by name."""

from .axolotl import AxolotlRows, from_axolotl
from .llamafactory import LlamaFactoryRows, from_llamafactory

__all__ = ["AxolotlRows", "LlamaFactoryRows", "from_axolotl", "from_llamafactory"]
