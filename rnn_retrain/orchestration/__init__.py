"""Prefect-side support shared by the tasks and flows: run identity, retries, the stage cache,
events, the promotion limit, shared settings and housekeeping (`retrain gc`).

The top of the core: may import every other part of `rnn_retrain`.
"""
