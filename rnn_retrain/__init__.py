"""rnn-retrain: a Prefect 3 retraining pipeline for Keras recurrent text classifiers."""

from importlib import metadata

try:
    __version__ = metadata.version("rnn-retrain")
except metadata.PackageNotFoundError:  # Run from a source tree that was never installed.
    __version__ = "0+unknown"
