"""What each half of the hybrid network gives on IMDB: the n-gram branch alone, the recurrent
network alone, both trained together, and both trained apart then stacked.

One process, the project's own code (tokenizer, vocabulary, `build_model` with ``ngrams``,
`fit_model`, which fits the branch's ratios on the fitted rows): the hybrid preset, trained for
``--epochs`` with early stopping off. Each epoch's training and validation figures are printed
as `retrain run` logs them, and each variant's test accuracy at the end.

    python benchmarks/hybrid_ablation.py --data ../shared/datasets/imdb/reviews.parquet

Variants (``--variants``): ``ngrams`` (the network's Dense logit zeroed and frozen: the branch
alone, NBSVM's model), ``network`` (the branch frozen at zero: the strong recurrent network),
``joint`` (the hybrid as ``retrain run --recipe hybrid`` fits it) and ``stacked`` (the two
alone-fitted halves' logits combined by a logistic regression fitted on the validation rows).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rnn_retrain.environment.quiet import load_tensorflow_quietly, prepare_environment


def padded_imdb(
    data: str, vocab_size: int, maxlen: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Padded ids, labels and the train mask, through the pipeline's tokenizer and vocabulary."""
    from rnn_retrain.data.preprocessing import encode_tokens, pad_token_ids, tokenize_texts
    from rnn_retrain.stages.tokenize import fit_vocabulary

    table = pq.read_table(data, columns=["text", "label", "split"])
    tokens = tokenize_texts(table["text"])
    train = pc.equal(table["split"], "train").to_numpy(zero_copy_only=False)
    vocabulary = fit_vocabulary(tokens.filter(pa.array(train)), vocab_size)
    x = pad_token_ids(encode_tokens(tokens, vocabulary), maxlen)
    return x, table["label"].to_numpy().astype(np.float32), train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--variants", nargs="+", default=["ngrams", "network", "joint", "stacked"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1337)
    args = parser.parse_args()
    prepare_environment()
    load_tensorflow_quietly()
    import keras
    from sklearn.linear_model import LogisticRegression

    from rnn_retrain.config.retrain import RetrainConfig
    from rnn_retrain.model.batching import (
        FIT,
        VALIDATION,
        bucket_boundaries,
        predict_in_buckets,
        rows_in_memory,
    )
    from rnn_retrain.model.fitting import FitHooks, fit_model
    from rnn_retrain.model.network import NETWORK_LOGITS, NGRAM_BRANCH, build_model

    config = RetrainConfig.from_flat(
        recipe="hybrid", epochs=args.epochs, early_stopping_patience=0, seed=args.seed
    )
    text, training = config.text, config.training
    x, y, train = padded_imdb(args.data, text.vocab_size, text.maxlen)
    rows = rows_in_memory(x[train], y[train], training.validation_fraction, training.seed)
    validation = np.flatnonzero(rows.roles[0] == VALIDATION)
    boundaries = bucket_boundaries(rows.role_lengths(FIT), training.length_buckets, text.maxlen)
    x_test, y_test = x[~train], y[~train]
    x_validation, y_validation = x[train][validation], y[train][validation]

    def accuracy(model, features, labels) -> float:
        scores = predict_in_buckets(model, features, boundaries, text.padding, 1024)
        return float(np.mean((scores >= 0.5) == labels))

    def fit(model, label: str) -> None:
        model.compile(
            optimizer=keras.optimizers.Adam(training.learning_rate),
            loss="binary_crossentropy",
            metrics=["accuracy"],
            jit_compile=training.xla,
        )
        started = time.perf_counter()
        fit_model(model, rows, training, text.padding, boundaries, FitHooks(report=print))
        seconds = time.perf_counter() - started
        print(f"{label}: test accuracy {accuracy(model, x_test, y_test):.4f} ({seconds:.0f} s)")

    def logits(model, features) -> np.ndarray:
        body = keras.Model(
            model.input,
            [model.get_layer(NGRAM_BRANCH).output, model.get_layer(NETWORK_LOGITS).output],
        )
        parts = [
            predict_in_buckets(_Single(body, i), features, boundaries, text.padding, 1024)
            for i in (0, 1)
        ]
        return np.stack(parts, axis=1)

    def ngrams_alone(model) -> None:
        head = model.get_layer(NETWORK_LOGITS)
        head.set_weights([np.zeros_like(weight) for weight in head.get_weights()])
        head.trainable = False

    def network_alone(model) -> None:
        model.get_layer(NGRAM_BRANCH).trainable = False  # Its learned weights stay at zero.

    vocabulary_size = text.vocab_size
    for variant in args.variants:
        model = build_model(vocabulary_size, config.model, training)
        if variant == "ngrams":
            ngrams_alone(model)
            fit(model, "n-gram branch alone")
        elif variant == "network":
            network_alone(model)
            fit(model, "recurrent network alone")
        elif variant == "joint":
            fit(model, "both, trained together (the hybrid)")
        elif variant == "stacked":
            network_alone(model)
            fit(model, "stacked, part 1: the network")
            deep = logits(model, x_validation)[:, 1], logits(model, x_test)[:, 1]
            branch = build_model(vocabulary_size, config.model, training)
            ngrams_alone(branch)
            fit(branch, "stacked, part 2: the n-gram branch")
            wide = logits(branch, x_validation)[:, 0], logits(branch, x_test)[:, 0]
            stack = np.stack([wide[0], deep[0]], axis=1), np.stack([wide[1], deep[1]], axis=1)
            combined = LogisticRegression().fit(stack[0], y_validation)
            print(
                f"stacked on the validation rows: weights {combined.coef_.ravel().round(3)}, "
                f"test accuracy {combined.score(stack[1], y_test):.4f}"
            )


class _Single:
    """One output of a two-output model, as `predict_in_buckets` calls a network."""

    def __init__(self, model, index: int) -> None:
        self.model, self.index = model, index

    def predict(self, x, batch_size, verbose=0):
        return self.model.predict(x, batch_size=batch_size, verbose=verbose)[self.index]


if __name__ == "__main__":
    main()
