"""The ``hf-sftprep`` command (build, inspect, report, template, demo), at the top of the layers.

No library module imports it; its entry point is ``hf_sftprep.cli.main:main`` (``python -m hf_sftprep``),
left in :mod:`.main` since a re-export here would hide that module behind the function.
"""

__all__: list[str] = []
