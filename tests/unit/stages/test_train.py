import keras
import numpy as np
import pyarrow as pa
import pytest
from keras import layers

from rnn_retrain.config.retrain import ModelSettings, TrainingSettings
from rnn_retrain.model.batching import FIT, VALIDATION, assign_roles, rows_in_memory
from rnn_retrain.model.fitting import FitHooks, cosine_learning_rate, fit_model
from rnn_retrain.model.layers import TimePoolingCell, load_network
from rnn_retrain.model.memory import count_weights
from rnn_retrain.model.network import build_model
from rnn_retrain.stages.train import history_table, stored_rows
from rnn_retrain.store.chunks import row_hash, validation_cutoff


@pytest.mark.parametrize(
    ("cell", "layer"), [("simplernn", layers.SimpleRNN), ("gru", layers.GRU), ("lstm", layers.LSTM)]
)
def test_model_follows_the_tutorial_architecture(cell, layer):
    model = build_model(100, ModelSettings(cell=cell), TrainingSettings())
    kinds = [type(item) for item in model.layers]
    assert kinds == [layers.InputLayer, layers.Embedding, layer, layers.Dropout, layers.Dense]
    assert model.get_layer("embedding").output_dim == 32
    assert model.predict(np.ones((3, 7), np.int32), verbose=0).shape == (3, 1)


def test_the_initial_weights_come_from_the_seed_whatever_ran_before():
    settings, training = ModelSettings(units=3, embedding_dim=2), TrainingSettings(xla=False)
    first = build_model(10, settings, training).get_weights()
    keras.random.uniform((5,))  # Another draw in this process, as an earlier test or run makes.
    keras.utils.set_random_seed(99)
    again = build_model(10, settings, training).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    other = build_model(10, settings, TrainingSettings(xla=False, seed=2)).get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_stacked_bidirectional_layers():
    settings = ModelSettings(cell="gru", rnn_layers=2, bidirectional=True, units=4)
    model = build_model(50, settings, TrainingSettings())
    # The memory check before training counts the same weights Keras builds.
    assert count_weights(50, settings) == model.count_params()
    for cell in ("simplernn", "lstm"):
        other = ModelSettings(cell=cell, rnn_layers=3, units=5, embedding_dim=3)
        assert count_weights(50, other) == build_model(50, other, TrainingSettings()).count_params()
    recurrent = [item for item in model.layers if isinstance(item, layers.Bidirectional)]
    assert len(recurrent) == 2
    assert (
        recurrent[0].forward_layer.return_sequences
        and not recurrent[1].forward_layer.return_sequences
    )
    assert model.predict(np.ones((2, 5), np.int32), verbose=0).shape == (2, 1)


# The strong recipe's pooling in the fast subset; the tutorial's last state in the full suite.
@pytest.mark.parametrize("pooling", [pytest.param("last", marks=pytest.mark.slow), "max_mean"])
def test_more_than_two_classes_get_a_softmax_head_that_learns_class_ids(pooling):
    settings = ModelSettings(cell="gru", units=8, embedding_dim=8, pooling=pooling)
    training = TrainingSettings(epochs=8, learning_rate=0.02, early_stopping_patience=0, xla=False)
    model = build_model(12, settings, training, classes=4)
    assert model.get_layer("probabilities").units == 4
    assert model.loss == "sparse_categorical_crossentropy"
    assert count_weights(12, settings, classes=4) == model.count_params()
    # Each class has its own two token ids (class c: 2 + 2c and 3 + 2c), learnable by any
    # pooling, and only as a class id: four values, not an ordering.
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, size=400)
    x = (2 + 2 * y[:, None] + rng.integers(0, 2, size=(400, 6))).astype(np.int32)
    rows = rows_in_memory(x, y.astype(np.float32), training.validation_fraction, training.seed)
    fit_model(model, rows, training, "pre", [6], FitHooks(report=lambda line: None))
    probabilities = model.predict(x, verbose=0)
    assert probabilities.shape == (400, 4)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert np.mean(probabilities.argmax(axis=1) == y) > 0.9


def held_out_rows(row_ids: np.ndarray, seed: int, groups: int = 1) -> list[int]:
    """The validation rows when the train rows come in ``groups`` groups."""
    cutoff = validation_cutoff(row_hash(row_ids, seed), 0.2)
    parts = np.array_split(row_ids, groups)
    roles = [assign_roles(part, np.ones(len(part), bool), cutoff, seed) for part in parts]
    return sorted(int(row) for part, role in zip(parts, roles) for row in part[role == VALIDATION])


def test_validation_cut_is_exact_seeded_and_the_same_whatever_the_groups():
    row_ids = np.arange(100) * 7 + 3
    held_out = held_out_rows(row_ids, seed=3)
    assert len(held_out) == 20
    assert held_out == held_out_rows(row_ids, seed=3, groups=6)
    assert held_out != held_out_rows(row_ids, seed=4)
    # The cut is random, not the tail: a label-sorted train split still validates on both labels.
    assert min(held_out) < row_ids[50] <= max(held_out)
    is_train = np.arange(100) % 2 == 0  # Test rows are never fitted on nor validated on.
    roles = assign_roles(row_ids, is_train, validation_cutoff(row_hash(row_ids, 3), 0.2), 3)
    assert not roles[~is_train].any() and (roles[is_train] > 0).all()


def test_the_validation_split_holds_out_whole_groups_of_rows():
    movies = np.repeat(np.arange(50) * 1_000_003, 6)  # 50 groups (movies) of 6 reviews each.
    index = pa.table(
        {
            "group_key": pa.array(movies, pa.int64()),
            "split": pa.array(["train"] * len(movies)),
            "length": pa.array(np.full(len(movies), 5), pa.int32()),
        }
    )
    parts = [index.slice(0, 100), index.slice(100)]  # Two Parquet row groups.
    rows = stored_rows(parts, lambda group: None, validation_fraction=0.2, seed=1)
    roles = np.concatenate(rows.roles)
    held_out = {int(movie) for movie in movies[roles == VALIDATION]}
    fitted = {int(movie) for movie in movies[roles == FIT]}
    assert held_out and fitted and not held_out & fitted  # No movie on both sides.
    assert 0.1 < len(held_out) / 50 < 0.3


def test_fit_learns_a_simple_sequence_rule_and_reports_each_epoch():
    # Label 1 when the last token is 3: learnable by any recurrent cell in a few epochs.
    rng = np.random.default_rng(0)
    x = rng.integers(2, 5, size=(400, 6)).astype(np.int32)
    y = (x[:, -1] == 3).astype(np.float32)
    # XLA compiles each step for seconds: a cost, not the subject, here.
    training = TrainingSettings(
        epochs=8, batch_size=32, learning_rate=0.01, early_stopping_patience=0, xla=False
    )
    lines: list[str] = []
    rows = rows_in_memory(x, y, training.validation_fraction, training.seed)
    assert (rows.count(FIT), rows.count(VALIDATION)) == (320, 80)
    model = build_model(6, ModelSettings(cell="gru"), training)
    outcome = fit_model(model, rows, training, "pre", [6], FitHooks(report=lines.append))
    assert len(lines) == 8 and lines[0].startswith("epoch 1/8 ")
    assert outcome.rows[-1]["val_accuracy"] > 0.9
    assert (outcome.fit_rows, outcome.validation_rows) == (320, 80)
    table = history_table(outcome.rows)
    assert table.column_names == [
        "epoch",
        "accuracy",
        "loss",
        "val_accuracy",
        "val_loss",
        "seconds",
        "process_id",
    ]
    assert table["epoch"].to_pylist() == list(range(1, 9))


def test_early_stopping_stops_and_keeps_the_best_epoch():
    rng = np.random.default_rng(1)
    x = rng.integers(2, 30, size=(200, 10)).astype(np.int32)
    y = rng.integers(0, 2, size=200).astype(np.float32)  # Pure noise: validation loss stalls.
    training = TrainingSettings(epochs=30, learning_rate=0.05, early_stopping_patience=2, xla=False)
    rows = rows_in_memory(x, y, training.validation_fraction, training.seed)
    model = build_model(30, ModelSettings(cell="simplernn", units=8), training)
    outcome = fit_model(model, rows, training, "pre", [10], FitHooks(report=lambda line: None))
    assert outcome.epochs_run < 30
    assert outcome.best_epoch == outcome.epochs_run - 2


class _Interrupt(keras.callbacks.Callback):
    """Stops the process's fit after a given epoch, as a crash would (without its cleanup)."""

    def __init__(self, after_epoch: int) -> None:
        super().__init__()
        self.after_epoch = after_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.after_epoch:
            raise KeyboardInterrupt


def test_an_interrupted_fit_resumes_from_its_last_epoch(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.integers(2, 5, size=(200, 6)).astype(np.int32)
    y = (x[:, -1] == 3).astype(np.float32)
    settings = ModelSettings(cell="gru", units=4)
    training = TrainingSettings(epochs=4, early_stopping_patience=0, xla=False)
    rows = rows_in_memory(x, y, training.validation_fraction, training.seed)
    checkpoints = tmp_path / "checkpoints"
    real_fit = keras.Model.fit

    def fit_then_crash(self, *args, callbacks=(), **kwargs):
        return real_fit(self, *args, callbacks=[*callbacks, _Interrupt(after_epoch=2)], **kwargs)

    monkeypatch.setattr(keras.Model, "fit", fit_then_crash)
    with pytest.raises(KeyboardInterrupt):
        fit_model(
            build_model(6, settings, training),
            rows,
            training,
            "pre",
            [6],
            FitHooks(report=lambda line: None, checkpoint_dir=checkpoints),
        )
    monkeypatch.setattr(keras.Model, "fit", real_fit)

    lines: list[str] = []
    outcome = fit_model(
        build_model(6, settings, training),
        rows,
        training,
        "pre",
        [6],
        FitHooks(report=lines.append, checkpoint_dir=checkpoints),
    )
    assert lines[0].startswith("resumed from epoch 2 ")
    assert [line.split()[1] for line in lines[1:]] == ["3/4", "4/4"]  # Only 3 and 4 ran again.
    assert [row["epoch"] for row in outcome.rows] == [1, 2, 3, 4]
    assert outcome.resumed_from_epoch == 2
    assert not (checkpoints / "backup").exists()


def test_the_best_epoch_before_a_kill_is_the_model_kept_after_the_resume(tmp_path, monkeypatch):
    """Validation labels are the fit rows' rule inverted: the better the fit, the worse the
    validation loss, so epoch 1 is the best. A kill after epoch 3 and a resume must still end
    on epoch 1's weights (Keras' restore_best_weights alone would keep epoch 4's)."""
    from rnn_retrain.model.batching import VALIDATION
    from rnn_retrain.model.fitting import bucketed_batches

    rng = np.random.default_rng(2)
    x = rng.integers(2, 5, size=(300, 6)).astype(np.int32)
    y = (x[:, -1] == 3).astype(np.float32)
    settings = ModelSettings(cell="gru", units=4)
    training = TrainingSettings(epochs=5, learning_rate=0.05, early_stopping_patience=5, xla=False)
    rows = rows_in_memory(x, y, training.validation_fraction, training.seed)
    held_out = rows.roles[0] == VALIDATION
    y[held_out] = 1 - y[held_out]  # The rows' reader hands out this very array.
    checkpoints = tmp_path / "checkpoints"
    real_fit = keras.Model.fit

    def fit_then_crash(self, *args, callbacks=(), **kwargs):
        return real_fit(self, *args, callbacks=[*callbacks, _Interrupt(after_epoch=3)], **kwargs)

    fit = {"rows": rows, "training": training, "padding": "pre", "boundaries": [6]}
    monkeypatch.setattr(keras.Model, "fit", fit_then_crash)
    with pytest.raises(KeyboardInterrupt):
        fit_model(
            build_model(6, settings, training), **fit, hooks=FitHooks(checkpoint_dir=checkpoints)
        )
    monkeypatch.setattr(keras.Model, "fit", real_fit)
    model = build_model(6, settings, training)
    hooks = FitHooks(report=lambda line: None, checkpoint_dir=checkpoints)
    outcome = fit_model(model, **fit, hooks=hooks)

    losses = [row["val_loss"] for row in outcome.rows]
    assert outcome.resumed_from_epoch == 3 and outcome.epochs_run == 5
    assert outcome.best_epoch == 1 and losses[0] < min(losses[3:])
    validation = bucketed_batches(rows, VALIDATION, [6], "pre", training.batch_size)
    kept = model.evaluate(validation, verbose=0, return_dict=True)["loss"]
    assert kept == pytest.approx(losses[0], rel=1e-4)
    assert not list(checkpoints.glob("best-*"))  # Removed with the backup.


def test_on_checkpoint_sees_each_epochs_backup_and_log_then_the_backup_removed(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.integers(2, 5, size=(100, 6)).astype(np.int32)
    y = (x[:, -1] == 3).astype(np.float32)
    training = TrainingSettings(epochs=2, early_stopping_patience=0, xla=False)
    rows = rows_in_memory(x, y, training.validation_fraction, training.seed)
    checkpoints = tmp_path / "checkpoints"
    seen: list[tuple[bool, int]] = []

    def look() -> None:
        # What a copy of the folder made now would hold: a backup?, and epochs logged.
        log = (checkpoints / "epochs.csv").read_text().splitlines()
        seen.append(((checkpoints / "backup").is_dir(), len(log) - 1))

    fit_model(
        build_model(6, ModelSettings(cell="gru", units=4), training),
        rows,
        training,
        "pre",
        [6],
        FitHooks(report=lambda line: None, checkpoint_dir=checkpoints, on_checkpoint=look),
    )
    assert seen == [(True, 1), (True, 2), (False, 2)]


# One cell in the fast subset; the others, the same code path with another cell, in the full suite.
@pytest.mark.parametrize(
    "cell",
    [
        "simplernn",
        pytest.param("gru", marks=pytest.mark.slow),
        pytest.param("lstm", marks=pytest.mark.slow),
    ],
)
def test_the_strong_network_pools_over_the_real_tokens_whatever_the_padding(cell, tmp_path):
    settings = ModelSettings(cell=cell, pooling="max_mean", embedding_dropout=0.25, units=4)
    model = build_model(30, settings, TrainingSettings())
    assert isinstance(model.get_layer(f"{cell}_0").cell, TimePoolingCell)
    assert model.get_layer("embedding_dropout").rate == 0.25
    assert count_weights(30, settings) == model.count_params()
    # The layer before the head gives [max, mean] of the cell's outputs over the real tokens.
    review = [4, 9, 2, 7]
    body = keras.Model(model.input, model.get_layer(f"{cell}_0").output)
    pooled = body(np.array([review]))
    assert pooled.shape == (1, 8)
    # Padding before or after, and any amount of it, changes nothing: it is masked out.
    for padded in ([0, 0, 0, *review], [*review, 0, 0], [0, *review, 0, 0, 0, 0, 0]):
        np.testing.assert_allclose(body(np.array([padded])), pooled, atol=1e-6)
    # Check the pooling itself against the cell's own outputs, step by step.
    inner = model.get_layer(f"{cell}_0").cell.cell
    embedded = model.get_layer("embedding")(np.array([review]))
    states, outputs = inner.get_initial_state(1), []
    for step in range(len(review)):
        output, states = inner(embedded[:, step], states)
        outputs.append(keras.ops.convert_to_numpy(output)[0])
    outputs = np.stack(outputs)
    expected = np.concatenate([outputs.max(axis=0), outputs.mean(axis=0)])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(pooled)[0], expected, atol=1e-6)
    # A saved network comes back through the one loader, with its own cell, in safe mode.
    model.save(tmp_path / "network.keras")
    loaded = load_network(tmp_path / "network.keras")
    batch = np.array([[0, 0, *review]])
    np.testing.assert_allclose(loaded.predict(batch, verbose=0), model.predict(batch, verbose=0))


def test_the_cosine_schedule_falls_from_the_rate_towards_zero_by_epoch():
    rate = cosine_learning_rate(2e-3, epochs=10)
    rates = [rate(epoch, 0.0) for epoch in range(10)]
    assert rates[0] == pytest.approx(2e-3) and rates[5] == pytest.approx(1e-3)
    assert all(later < earlier for earlier, later in zip(rates, rates[1:]))
    assert 0 < rates[-1] < 1e-4
