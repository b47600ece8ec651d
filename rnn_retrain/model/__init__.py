"""The model: the Keras network and its layers, the memory estimate, length-bucketed batching, and
the served model package that the registry holds.

May import `rnn_retrain.errors`, `rnn_retrain.store`, `rnn_retrain.config` and `rnn_retrain.data`.
TensorFlow loads only inside these modules' functions, so importing them stays cheap.
"""
