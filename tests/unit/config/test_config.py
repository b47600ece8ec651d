import pytest
from pydantic import ValidationError

from rnn_retrain.config.retrain import ConfigSlice, ModelSettings, RetrainConfig, SweepConfig


def test_defaults_are_the_tutorial_recipe():
    config = RetrainConfig()
    assert (config.source.data, config.text.maxlen) == ("demo", 500)
    assert (config.model.embedding_dim, config.model.units, config.model.cell) == (32, 32, "lstm")
    assert (config.model.dropout, config.training.learning_rate) == (0.2, 1e-3)
    assert (config.training.batch_size, config.training.epochs) == (60, 10)
    assert (config.text.padding, config.text.truncating) == ("pre", "pre")


def test_every_field_has_a_description_and_flag_names_are_unique():
    names = []
    for model in (RetrainConfig, SweepConfig):
        for section in model.model_fields.values():
            assert section.description
            for name, field in section.annotation.model_fields.items():
                assert field.description, name
                names.append((model.__name__, name))
    assert len(names) == len(set(names))


def test_sections_come_in_the_order_a_user_changes_them():
    sections = ["source", "model", "training", "text", "data_gate", "registry"]
    assert list(RetrainConfig.model_fields) == sections
    assert list(SweepConfig.model_fields) == ["source", "sweep", *sections[1:]]
    for model in (RetrainConfig, SweepConfig):
        assert list(model.model_json_schema()["properties"]) == list(model.model_fields)


@pytest.mark.parametrize(
    ("given", "expected"), [("SimpleRNN", "simplernn"), ("simple_rnn", "simplernn"), ("GRU", "gru")]
)
def test_cell_accepts_keras_class_names(given, expected):
    assert ModelSettings(cell=given).cell == expected
    assert RetrainConfig.from_flat(cell=given).model.cell == expected


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
        RetrainConfig.from_flat(**{field: value})


def test_unknown_fields_are_refused_and_the_config_is_frozen():
    with pytest.raises(ValidationError, match="extra"):
        RetrainConfig.from_flat(epoch=3)
    with pytest.raises(ValidationError, match="extra"):
        RetrainConfig.model_validate({"training": {"epoch": 3}})
    with pytest.raises(ValidationError, match="frozen"):
        RetrainConfig().training.epochs = 3


def test_input_comes_in_sections_and_fields_outside_their_section_are_refused_by_name():
    grouped = RetrainConfig.model_validate({"model": {"cell": "gru"}, "text": {"maxlen": 40}})
    assert (grouped.model.cell, grouped.text.maxlen) == ("gru", 40)
    assert RetrainConfig.model_validate_json(grouped.model_dump_json()) == grouped
    assert grouped == RetrainConfig.from_flat(cell="gru", maxlen=40)
    assert hash(grouped) == hash(RetrainConfig.from_flat(cell="gru", maxlen=40))
    for model in (RetrainConfig, SweepConfig):
        with pytest.raises(ValidationError) as refused:
            model.model_validate({"model": {"units": 8}, "cell": "gru", "maxlen": 40})
        problems = {(error["loc"], error["type"]) for error in refused.value.errors()}
        assert problems == {(("cell",), "extra_forbidden"), (("maxlen",), "extra_forbidden")}


def test_flat_and_pick_read_fields_by_flag_name_and_dotted_name():
    config = RetrainConfig.from_flat(cell="gru", maxlen=40)
    assert config.flat()["cell"] == "gru" and config.flat()["maxlen"] == 40
    assert config.pick(("text.maxlen", "model.cell")) == {"text.maxlen": 40, "model.cell": "gru"}
    piece = ConfigSlice(output=("text.maxlen",), also_reads=("source.chunk_rows",))
    assert piece.values(config) == {"text.maxlen": 40}
    assert piece.reads == {"text.maxlen", "source.chunk_rows", "registry.artifact_root"}


def test_a_sweep_shares_every_section_but_its_own_with_each_candidate():
    sweep = SweepConfig.from_flat(cells=["GRU"], epochs=2, maxlen=30)
    assert sweep.sweep.cells == ("gru",)
    base = sweep.base()
    assert isinstance(base, RetrainConfig)
    assert (base.training.epochs, base.text.maxlen) == (2, 30)


def test_a_copy_takes_updates_by_flag_name_or_section_and_validates_them():
    config = RetrainConfig()
    copy = config.model_copy(update={"cell": "gru", "text": {"maxlen": 40}})
    assert (copy.model.cell, copy.text.maxlen, copy.model.units) == ("gru", 40, 32)
    assert config.model.cell == "lstm"
    with pytest.raises(ValidationError, match="maxlen"):
        config.model_copy(update={"maxlen": 0})


def test_the_strong_recipe_fills_the_fields_left_at_the_tutorial_default():
    strong = RetrainConfig.from_flat(recipe="strong")
    assert (strong.model.pooling, strong.model.embedding_dropout) == ("max_mean", 0.5)
    assert (strong.text.vocab_size, strong.training.learning_rate_schedule) == (10_000, "cosine")
    assert strong.model.bidirectional and strong.training.epochs == 3
    assert strong.model.cell == "lstm" and strong.text.maxlen == 500  # Not part of the preset.
    # A value given by the user wins; grouped input (the REST API, the UI form) works the same.
    given = RetrainConfig.model_validate(
        {"model": {"recipe": "strong", "cell": "gru"}, "text": {"vocab_size": 30_000}}
    )
    assert (given.text.vocab_size, given.model.cell, given.model.pooling) == (
        30_000,
        "gru",
        "max_mean",
    )
    # The UI sends every field of its form, untouched ones at their defaults.
    form = RetrainConfig().model_dump()
    form["model"]["recipe"] = "strong"
    assert RetrainConfig.model_validate(form) == strong
    assert SweepConfig.from_flat(recipe="strong").base() == strong
    assert RetrainConfig().model.pooling == "last"  # The tutorial stays the default.
