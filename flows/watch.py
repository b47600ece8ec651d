"""The source watcher: a cheap, frequent look at the training data that starts a run on change.

It reads the source's listing only (sizes and modification times, no file contents), so it can
run every few minutes on an interval schedule. A change emits ``rnn-retrain.source.changed``;
the retrain deployment's trigger (deployments/prefect.yaml) turns that event into a run. With
``drift`` on, a change also has its new files scored by the champion and compared with its data
(`rnn_retrain.tasks.watch.source_drift`): a drifted change emits ``rnn-retrain.data.drifted`` too.
"""

from __future__ import annotations

from prefect import flow

from rnn_retrain.results import WatchResult
from rnn_retrain.stages.watch import WatchSettings
from rnn_retrain.tasks.watch import source_drift, watch


@flow(name="watch-source", description="Start a retraining run when the training data changes.")
def watch_source(settings: WatchSettings) -> WatchResult:
    """Compare the source with the last look; emit an event when it changed and settled, and
    report the change's drift from the champion's data when ``drift`` is on."""
    looked = watch(settings)
    if settings.drift and looked.start_run:
        return source_drift(settings, looked)
    return looked
