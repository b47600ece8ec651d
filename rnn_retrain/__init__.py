"""rnn-retrain: a Prefect 3 retraining pipeline for Keras recurrent text classifiers."""

__version__ = "0.1.0"
