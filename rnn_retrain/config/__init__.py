"""The configuration: the frozen, typed parameters of every flow, as the CLI and the UI see them.

`sections` holds one pydantic model per part of a run, `retrain` the retraining and sweep
configurations made of them, and `scoring` the batch-scoring flow's parameter. Imports nothing of
the project but `rnn_retrain.errors`.
"""
