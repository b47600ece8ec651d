import pytest
from pydantic import ValidationError

from rnn_retrain.config import RetrainConfig


def test_defaults_are_the_tutorial_recipe():
    config = RetrainConfig()
    assert (config.data, config.maxlen, config.embedding_dim, config.units) == ("demo", 500, 32, 32)
    assert (config.dropout, config.learning_rate, config.batch_size, config.epochs) == (
        0.2,
        1e-3,
        60,
        10,
    )
    assert (config.padding, config.truncating, config.cell) == ("pre", "pre", "lstm")


def test_every_field_has_a_description():
    assert all(field.description for field in RetrainConfig.model_fields.values())


@pytest.mark.parametrize(
    ("given", "expected"), [("SimpleRNN", "simplernn"), ("simple_rnn", "simplernn"), ("GRU", "gru")]
)
def test_cell_accepts_keras_class_names(given, expected):
    assert RetrainConfig(cell=given).cell == expected


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("maxlen", 0),
        ("vocab_size", 2),
        ("cell", "transformer"),
        ("dropout", 1.0),
        ("epochs", 0),
        ("padding", "middle"),
        ("test_fraction", 1.0),
        ("data", " "),
    ],
)
def test_out_of_range_values_are_refused_naming_the_field(field, value):
    with pytest.raises(ValidationError, match=field):
        RetrainConfig(**{field: value})


def test_unknown_fields_are_refused_and_the_config_is_frozen():
    with pytest.raises(ValidationError, match="extra"):
        RetrainConfig(epoch=3)
    with pytest.raises(ValidationError, match="frozen"):
        RetrainConfig().epochs = 3
