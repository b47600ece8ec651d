"""The store: every path and URI the project uses (`paths`), the writes that never leave half a
file (`atomic`), a run's artifacts (`artifacts`), the stage cache's records (`cache_records`),
the source watcher's listings (`listings`), training checkpoints (`checkpoints`), chunked reading
(`chunks`) and inter-process locks (`locks`).

May import `rnn_retrain.errors` and `rnn_retrain.environment` (to tell a full disk in one line);
nothing above.
"""
