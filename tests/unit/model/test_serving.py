"""What the servable model accepts as input, before any network runs."""

import pandas as pd
import pytest

from rnn_retrain.model.serving import review_texts


def test_a_list_and_a_text_column_give_the_same_reviews():
    reviews = ["the plot was not good", "great film"]
    assert review_texts(reviews) == reviews
    assert review_texts(pd.DataFrame({"text": reviews})) == reviews


@pytest.mark.parametrize(
    ("model_input", "message"),
    [
        (pd.DataFrame({"review": ["great film"]}), "no 'text' field"),
        (pd.DataFrame({"text": []}), "no reviews to score"),
        ([], "no reviews to score"),
        (pd.DataFrame({"text": ["fine", 5]}), "review 2 is int 5, not text"),
        ([None], "review 1 is null, not text"),
        (pd.DataFrame({"text": ["fine", float("nan")]}), "review 2 is null, not text"),
        ("great film", "a single string"),
    ],
)
def test_malformed_input_is_a_value_error_that_names_the_fix(model_input, message):
    with pytest.raises(ValueError, match=message):
        review_texts(model_input)


@pytest.mark.parametrize(
    ("cell", "pooling", "classes", "ngrams", "bidirectional"),
    [
        ("lstm", "last", 2, 0, False),
        ("gru", "max_mean", 3, 3, False),
        ("lstm", "max_mean", 2, 0, True),
    ],
)
def test_the_served_scorer_answers_like_keras_predict_at_every_bucket(
    cell, pooling, classes, ngrams, bidirectional
):
    """The compiled forward pass (one graph for every request size and length) against
    ``model.predict``, which evaluation uses: the same probabilities, each bucket included,
    the hybrid network's n-gram branch and the strong preset's two directions too."""
    import numpy as np
    import pyarrow as pa

    from rnn_retrain.config.sections import ModelSettings, TrainingSettings
    from rnn_retrain.data.demo import generate_reviews
    from rnn_retrain.data.preprocessing import TokenLookup, texts_to_padded_ids, tokenize_texts
    from rnn_retrain.model.batching import predict_in_buckets
    from rnn_retrain.model.network import build_model
    from rnn_retrain.model.serving import TextScorer
    from rnn_retrain.stages.tokenize import fit_vocabulary

    texts = generate_reviews(70, seed=5)["text"].to_pylist() + ["", "zebra " * 90]
    vocabulary = fit_vocabulary(tokenize_texts(pa.array(texts)), vocab_size=60)
    settings = ModelSettings(
        cell=cell,
        pooling=pooling,
        units=6,
        embedding_dim=5,
        ngrams=ngrams,
        ngram_buckets=500,
        bidirectional=bidirectional,
    )
    network = build_model(60, settings, TrainingSettings(xla=False), classes=classes)
    if ngrams:  # Ratios and weights that move the answer, as a fitted branch's do.
        branch = network.get_layer("ngram_branch")
        rng = np.random.default_rng(0)
        branch.set_ratios(rng.normal(size=(500, classes)).astype(np.float32))
        branch.learned.assign(rng.normal(scale=0.1, size=(500, classes)).astype(np.float32))
    preprocessing = {
        "maxlen": 64,
        "padding": "pre",
        "truncating": "pre",
        "length_buckets": [16, 32, 64],
    }
    scorer = TextScorer(network, vocabulary, preprocessing)

    x = texts_to_padded_ids(pa.array(texts), TokenLookup(vocabulary), 64, "pre", "pre")
    expected = predict_in_buckets(network, x, [16, 32, 64], "pre", batch_size=8)
    assert np.allclose(scorer(texts), expected, atol=1e-6)
    assert expected.shape == ((len(texts),) if classes == 2 else (len(texts), classes))
    # One review at a time, as most requests come: the same answer as in the batch.
    assert np.allclose([scorer([text])[0] for text in texts[-4:]], expected[-4:], atol=1e-6)


def test_only_a_loading_that_serves_compiles_at_load():
    """A server compiles the one-review shapes before its first request; a bulk caller
    (`BULK_LOADING`) compiles what its first call uses, and answers the same."""
    import numpy as np
    import pyarrow as pa

    from rnn_retrain.config.sections import ModelSettings, TrainingSettings
    from rnn_retrain.model.network import build_model
    from rnn_retrain.model.serving import BULK_LOADING, WARM_UP, TextScorer

    vocabulary = pa.table({"token": ["good", "bad"], "id": pa.array([2, 3], pa.int32())})
    network = build_model(4, ModelSettings(units=3, embedding_dim=2), TrainingSettings(xla=False))
    preprocessing = {"maxlen": 8, "padding": "pre", "truncating": "pre", "length_buckets": [4, 8]}
    served = TextScorer(network, vocabulary, preprocessing)
    bulk = TextScorer(network, vocabulary, preprocessing, warm_up=BULK_LOADING[WARM_UP])
    assert served.forward._forward.experimental_get_tracing_count() == 1
    assert bulk.forward._forward.experimental_get_tracing_count() == 0
    texts = ["good good", "bad " * 7]
    assert np.allclose(bulk(texts), served(texts), atol=1e-6)


def test_mlflows_check_of_a_model_being_logged_does_not_warm_it_up():
    """MLflow loads a model it logs to try the input example: that load skips the warm-up,
    while a server's load (the logged config, or none) and a bulk load keep their own."""
    from rnn_retrain.model.serving import BULK_LOADING, WARM_UP, logging_a_model, wants_warm_up

    assert wants_warm_up({WARM_UP: True}) and wants_warm_up(None)
    assert not wants_warm_up(BULK_LOADING)
    with logging_a_model():
        assert not wants_warm_up({WARM_UP: True}) and not wants_warm_up(None)
    assert wants_warm_up({WARM_UP: True})


SERVER = {"__pyfunc_model_path__": "/models/champion"}


# Three fresh TensorFlow processes, about 10 s each: in the full suite, not the fast subset.
@pytest.mark.slow
@pytest.mark.parametrize(
    ("environment", "expected"),
    [(SERVER, "1 1"), ({**SERVER, "TF_NUM_INTRAOP_THREADS": "2"}, "0 0"), ({}, "0 0")],
)
def test_a_scoring_server_gives_tensorflow_one_thread_a_pool_unless_told(environment, expected):
    """In a fresh process (TensorFlow reads the setting when it starts): one thread per pool in
    MLflow's scoring server; nothing set by us when the environment names its own pools, or in
    any other process (one that loads the champion may go on to train)."""
    import os
    import subprocess
    import sys

    script = (
        "from rnn_retrain.model.serving import limit_serving_threads; limit_serving_threads(); "
        "import tensorflow as tf; t = tf.config.threading; "
        "print(t.get_intra_op_parallelism_threads(), t.get_inter_op_parallelism_threads())"
    )
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith("TF_NUM_") and k != "__pyfunc_model_path__"
        },
        **environment,
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[-2] == expected
