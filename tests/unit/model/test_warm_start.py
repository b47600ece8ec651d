"""Warm starts: which champion may lend its weights, and how they reach a new vocabulary."""

import json

import numpy as np
import pyarrow as pa
import pytest

from rnn_retrain.config.retrain import ModelSettings, TrainingSettings
from rnn_retrain.model.network import build_model
from rnn_retrain.model.warm_start import copy_champion_weights, shared_token_ids
from rnn_retrain.stages.train import starting_point

TRAINING = TrainingSettings(xla=False)


def champion_tags(model: dict, classes=("negative", "positive")) -> dict[str, str]:
    """A champion's version tags as register writes them: the whole model section, and more."""
    return {
        "config": json.dumps({"model": ModelSettings(**model).model_dump(mode="json")}),
        "classes": json.dumps(list(classes)),
        "model.sha256": "ab" * 32,
    }


def vocabulary(tokens: list[str]) -> pa.Table:
    return pa.table({"token": tokens, "id": pa.array(range(2, len(tokens) + 2), pa.int32())})


def test_a_champion_of_the_same_architecture_and_classes_lends_its_weights():
    settings = ModelSettings(cell="gru", units=8)
    start = starting_point(
        ("4", champion_tags({"cell": "gru", "units": 8})), settings, ["negative", "positive"]
    )
    assert start.warm and start.version == "4" and start.model_sha256 == "ab" * 32
    assert start.describe() == "warm start: from champion version 4"


@pytest.mark.parametrize(
    ("champion", "classes", "reason"),
    [
        (None, ["negative", "positive"], "cold start: there is no champion to start from"),
        (
            ("2", champion_tags({"cell": "lstm", "units": 8})),
            ["negative", "positive"],
            "cold start: champion version 2 has cell 'lstm', this run 'gru'",
        ),
        (
            ("3", champion_tags({"cell": "gru", "units": 8, "bidirectional": True})),
            ["negative", "positive"],
            "cold start: champion version 3 has bidirectional True, this run False",
        ),
        (
            ("5", champion_tags({"cell": "gru", "units": 8})),
            ["bad", "good", "mixed"],
            "cold start: champion version 5 has classes ['negative', 'positive'], this run "
            "['bad', 'good', 'mixed']",
        ),
        (
            ("6", {"classes": "[]"}),
            ["negative", "positive"],
            "cold start: champion version 6 records no readable configuration",
        ),
    ],
)
def test_a_champion_that_cannot_lend_its_weights_says_why(champion, classes, reason):
    start = starting_point(champion, ModelSettings(cell="gru", units=8), classes)
    assert not start.warm and start.describe() == reason


def test_embedding_rows_follow_the_tokens_and_new_tokens_start_fresh():
    settings = ModelSettings(cell="lstm", units=3, embedding_dim=4)
    old = vocabulary(["film", "good", "bad", "plot"])
    new = vocabulary(["bad", "great", "film"])  # "great" is new; "good" and "plot" are gone.
    champion = build_model(6, settings, TrainingSettings(xla=False, seed=1))
    network = build_model(5, settings, TrainingSettings(xla=False, seed=2))
    fresh = network.get_layer("embedding").get_weights()[0].copy()
    current_ids, champion_ids = shared_token_ids(old, new)
    assert current_ids.tolist() == [0, 1, 2, 4] and champion_ids.tolist() == [0, 1, 4, 2]
    copy_champion_weights(champion, network, current_ids, champion_ids)
    lent = champion.get_layer("embedding").get_weights()[0]
    embedding = network.get_layer("embedding").get_weights()[0]
    np.testing.assert_array_equal(embedding[[0, 1, 2, 4]], lent[[0, 1, 4, 2]])
    np.testing.assert_array_equal(embedding[3], fresh[3])  # "great"
    for name in ("lstm_0", "probability"):
        for mine, theirs in zip(
            network.get_layer(name).get_weights(),
            champion.get_layer(name).get_weights(),
            strict=True,
        ):
            np.testing.assert_array_equal(mine, theirs)


@pytest.mark.parametrize("same_vocabulary", [True, False])
def test_the_ngram_branch_keeps_learned_weights_only_where_ids_still_mean_the_same(same_vocabulary):
    settings = ModelSettings(cell="gru", units=2, embedding_dim=2, ngrams=2, ngram_buckets=64)
    old = vocabulary(["a", "b", "c"])
    new = old if same_vocabulary else vocabulary(["c", "a", "b"])
    champion = build_model(5, settings, TRAINING)
    learned = np.random.default_rng(0).normal(size=(64, 1)).astype("float32")
    ratios = np.ones((64, 1), "float32")
    champion.get_layer("ngram_branch").set_weights([ratios, learned])
    network = build_model(5, settings, TRAINING)
    copy_champion_weights(champion, network, *shared_token_ids(old, new))
    copied_ratios, copied = network.get_layer("ngram_branch").get_weights()
    assert not copied_ratios.any()  # Counted again on the new run's rows, not lent.
    if same_vocabulary:
        np.testing.assert_array_equal(copied, learned)
    else:
        # Unigrams follow their tokens (c: 4 → 2, a: 2 → 3, b: 3 → 4); hashed bigrams of
        # renumbered tokens are other n-grams now, so they start from zero.
        np.testing.assert_array_equal(copied[[2, 3, 4], 0], learned[[4, 2, 3], 0])
        assert not copied[5:].any()
