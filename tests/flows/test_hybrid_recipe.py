"""The hybrid recipe (the strong one plus the n-gram branch) through the whole flow: its network
is registered and served as trained."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.flows.retrain import retrain
from rnn_retrain.model.layers import NGramBranch, TimePoolingCell, load_network
from rnn_retrain.store.artifacts import ArtifactStore

# A fresh interpreter loads the registered model: seconds of MLflow and TensorFlow imports.
pytestmark = [pytest.mark.usefixtures("prefect_server"), pytest.mark.slow]

# A fresh interpreter that has never imported rnn_retrain.model.layers loads the registered model the
# way `mlflow models serve` does, and scores the test reviews from their raw text.
SERVE = (
    "import json, sys, mlflow, pandas\n"
    "mlflow.set_tracking_uri(sys.argv[1])\n"
    "model = mlflow.pyfunc.load_model('models:/review-sentiment/1')\n"
    "texts = pandas.DataFrame({'text': json.load(open(sys.argv[2]))})\n"
    "print(json.dumps(model.predict(texts)))\n"
)


@pytest.mark.long
def test_a_hybrid_run_trains_pools_and_serves_exactly_what_it_evaluated(tmp_path: Path):
    config = RetrainConfig.from_flat(
        recipe="hybrid",
        vocab_size=300,
        ngram_buckets=4096,
        demo_size=600,
        maxlen=40,
        units=8,
        embedding_dim=8,
        epochs=2,
        artifact_root=str(tmp_path / "artifacts"),
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
    )
    summary = retrain(config)
    store = ArtifactStore(str(tmp_path / "artifacts"))
    network = load_network(store.copy_to_local(summary.artifacts["train/model.keras"], tmp_path))
    assert isinstance(network.get_layer("lstm_0").cell, TimePoolingCell)
    assert network.get_layer("embedding_dropout").rate == config.model.embedding_dropout
    # The n-gram branch keeps the ratios fitted on the train rows, and has learnt its weights.
    branch = network.get_layer("ngram_branch")
    assert isinstance(branch, NGramBranch) and branch.order == 3
    assert np.count_nonzero(branch.ratios.numpy()) > 100
    assert np.count_nonzero(branch.learned.numpy()) > 100
    # The per-epoch cosine schedule: the second (last) epoch trained at half the first's rate.
    history = store.read_table(summary.artifacts["train/history.parquet"]).to_pylist()
    assert [round(row["learning_rate"], 6) for row in history] == [0.002, 0.001]

    snapshot = store.read_table(summary.artifacts["ingest/snapshot.parquet"])
    test_rows = snapshot.filter(pc.equal(snapshot["split"], "test")).sort_by("row_id")
    evaluated = store.read_table(summary.artifacts["evaluate/predictions.parquet"]).sort_by(
        "row_id"
    )
    texts = tmp_path / "texts.json"
    texts.write_text(json.dumps(test_rows["text"].to_pylist()))
    result = subprocess.run(
        [sys.executable, "-c", SERVE, config.registry.tracking_uri, str(texts)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    served = np.array(json.loads(result.stdout.strip().splitlines()[-1]))
    assert np.max(np.abs(served - evaluated["probability"].to_numpy())) <= 1e-5
