"""The store: every path and URI the project uses, the artifact store over them, chunked reading,
training checkpoints on a remote root, and inter-process locks.

May import `rnn_retrain.errors` and `rnn_retrain.environment` (to tell a full disk in one line);
nothing above.
"""
