"""Prefect flows that compose the stage tasks."""

from rnn_retrain.environment.process import exit_without_final_collection

# A process that imports the flows (a flow run Prefect starts, `retrain serve`, a worker) ends
# without a last walk over its heap.
exit_without_final_collection()
