"""The package version: part of every cache fingerprint, so a release whose labels differ never reuses an
older release's cached datasets. Bumped to 0.3.0: templates beyond the zoo label some rows differently."""

__version__ = "0.3.0"
