"""The retraining configuration: one frozen, typed model for the CLI, the flow and the Prefect UI.

`RetrainConfig` is grouped into sections (source, model, training, text, data gate, registry), in
the order a user changes them, so the Prefect UI draws the run form as titled sections. Every
field has a description, because the UI shows it and the CLI turns each field into a flag of the
same name (``--cell``, ``--maxlen``): field names are unique across the sections. Defaults are
the classic Keras IMDB tutorial recipe.

Stages never read the whole configuration blindly: each declares the fields it reads in a
`ConfigSlice`, which feeds its cache key and its artifacts' manifests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from rnn_retrain.config.sections import (
    FROZEN,
    Cell,
    DataCheck,
    DataGateSettings,
    DataSettings,
    ModelSettings,
    Policy,
    RegistrySettings,
    Side,
    SweepSettings,
    TaskRunnerName,
    TextSettings,
    TrainingSettings,
)

__all__ = [
    "Cell",
    "ConfigSlice",
    "DataCheck",
    "DataGateSettings",
    "DataSettings",
    "ModelSettings",
    "Policy",
    "RegistrySettings",
    "RetrainConfig",
    "SECTION_MODELS",
    "Side",
    "SweepConfig",
    "SweepSettings",
    "TaskRunnerName",
    "TextSettings",
    "TrainingSettings",
]


def _sections(model: type[BaseModel]) -> dict[str, str]:
    """Flat field name → its section, for a grouped configuration model."""
    return {
        name: section
        for section, field in model.model_fields.items()
        for name in field.annotation.model_fields  # type: ignore[union-attr]
    }


# The strong recipe: each value measured on full IMDB (benchmarks/imdb_recipe.py, the results in
# benchmarks/RESULTS.md). A field still at its tutorial default takes the preset's value.
STRONG_RECIPE: dict[str, dict[str, Any]] = {
    # Bidirectional is the best measured variant of the LSTM alone: 0.8833 ± 0.0019 over three
    # seeds in 226 ± 23 s against 0.8744 one-directional (RESULTS.md, "The bidirectional variant").
    "model": {
        "pooling": "max_mean",
        "embedding_dropout": 0.5,
        "dropout": 0.5,
        "bidirectional": True,
    },
    "training": {
        "learning_rate": 2e-3,
        "learning_rate_schedule": "cosine",
        # Every strong fit tried on IMDB was best after epoch 2 or 3 and overfit after it
        # (three epochs: 0.8836 bidirectional, seed 1337; two were not robust across seeds:
        # 0.8827 and 0.8665). The cosine rate reaches zero at the last epoch.
        "epochs": 3,
        "early_stopping_patience": 2,
    },
    "text": {"vocab_size": 10_000},
}
# The hybrid recipe: a one-directional strong network beside an n-gram branch (wide and deep).
# Its own values were measured on full IMDB as well; every other field is the strong recipe's.
# The network stays one-directional: the branch carries the accuracy (RESULTS.md, "Each half of
# the hybrid alone"), and a second direction would double the network's time for nothing.
HYBRID_RECIPE: dict[str, dict[str, Any]] = {
    "model": {**STRONG_RECIPE["model"], "bidirectional": False, "ngrams": 3},
    # The n-gram branch fits the train rows within two epochs (train accuracy 0.995): later
    # epochs only lower validation accuracy (seed 1337: 0.9170, 0.9136 after epochs 1 and 2 of
    # either length). Two epochs: test accuracy 0.9127 in 128 s of training; six, stopped
    # early after five: 0.9115 in 352 s.
    "training": {**STRONG_RECIPE["training"], "epochs": 2},
    "text": STRONG_RECIPE["text"],
}
RECIPES = {"strong": STRONG_RECIPE, "hybrid": HYBRID_RECIPE}


def apply_recipe(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """Grouped input with the chosen recipe's values put in for the fields left at their defaults.

    "Left at the default" rather than "not given": the Prefect UI sends every field of its form,
    so a field the user never touched arrives with its default value.
    """
    given_model = data.get("model")
    recipe = given_model.get("recipe") if isinstance(given_model, dict) else None
    if recipe not in RECIPES:
        return data
    data = dict(data)
    for section, values in RECIPES[recipe].items():
        fields = model.model_fields[section].annotation.model_fields  # type: ignore[union-attr]
        given = dict(data.get(section) or {})
        for name, value in values.items():
            if given.get(name, fields[name].default) == fields[name].default:
                given[name] = value
        data[section] = given
    return data


def _schema_with_flat_names(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """Let the JSON schema accept the deprecated flat names at the top level, and only those.

    Prefect's server checks a deployment run's parameters against this schema, so without this
    a flat ``{"cell": "gru"}`` would be refused before the flow could regroup it. The form the
    UI draws from the schema shows the sections alone.
    """
    schema["additionalProperties"] = True
    schema["propertyNames"] = {"enum": sorted({*model.model_fields, *_sections(model)})}


class _Grouped(BaseModel):
    """A configuration of sections that also accepts the old flat shape, for one release.

    The REST API and saved deployment parameters of earlier releases send every field at the top
    level (``{"cell": "gru"}``). Such input is regrouped and remembered in `flat_fields`, so the
    flow can log a deprecation warning into the run log.
    """

    model_config = ConfigDict(FROZEN, json_schema_extra=_schema_with_flat_names)
    _flat_fields: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _accept_flat_shape(cls, data: Any, handler: Any) -> Any:
        flat: list[str] = []
        if isinstance(data, dict):
            data, flat = cls.regroup(data)
            data = apply_recipe(cls, data)
        config = handler(data)
        if flat:
            config._flat_fields = tuple(flat)
        return config

    @classmethod
    def regroup(cls, data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Move flat field names into their sections; return the result and the names moved."""
        sections = _sections(cls)
        grouped: dict[str, Any] = {}
        flat = []
        for name, value in data.items():
            if name in cls.model_fields and isinstance(value, (dict, BaseModel)):
                given = value.model_dump() if isinstance(value, BaseModel) else value
                grouped[name] = {**given, **grouped.get(name, {})}
            elif name in sections:
                flat.append(name)
                grouped.setdefault(sections[name], {})[name] = value
            else:
                grouped[name] = value
        return grouped, flat

    @classmethod
    def from_flat(cls, **fields: Any) -> Any:
        """Build from field names alone (``cell="gru", maxlen=200``): the CLI's flags."""
        grouped, _ = cls.regroup(fields)
        return cls.model_validate(grouped)

    def __eq__(self, other: object) -> bool:
        # How a configuration arrived (flat or grouped) is not part of what it says.
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash(tuple(self.__dict__.values()))

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Any:
        """A copy with ``update`` applied, by flag name or by section, validated like any input.

        Pydantic's own `model_copy` would set a flat name as a stray attribute and change nothing.
        """
        if not update:
            return super().model_copy(deep=deep)
        grouped, _ = self.regroup(update)
        merged = self.model_dump()
        for name, value in grouped.items():
            merged[name] = {**merged[name], **value} if isinstance(value, dict) else value
        return type(self).model_validate(merged)

    @model_validator(mode="after")
    def _baseline_for_its_rule(self) -> Any:
        # The gate rule compares with the baseline: a run without one could not apply it.
        if self.registry.require_beat_baseline and not self.training.baseline:  # type: ignore[attr-defined]
            raise ValueError(
                "require_beat_baseline needs the baseline: leave baseline on (drop --no-baseline)"
            )
        return self

    @model_validator(mode="after")
    def _ngram_buckets_above_the_vocabulary(self) -> Any:
        model, text = getattr(self, "model", None), getattr(self, "text", None)
        if model is not None and text is not None and model.ngrams:
            if model.ngram_buckets <= text.vocab_size:
                raise ValueError(
                    f"ngram_buckets ({model.ngram_buckets}) must exceed vocab_size "
                    f"({text.vocab_size}): unigrams keep their token ids, below it"
                )
        return self

    @property
    def flat_fields(self) -> tuple[str, ...]:
        """The fields that arrived in the deprecated flat shape (empty for grouped input)."""
        return self._flat_fields

    def flat(self) -> dict[str, Any]:
        """Every field by its flat name, as the CLI and MLflow params name them."""
        return {
            name: value
            for section in type(self).model_fields
            for name, value in getattr(self, section).model_dump().items()
        }

    def pick(self, names: tuple[str, ...]) -> dict[str, Any]:
        """The values of dotted field names (``"text.maxlen"``), keyed by those names."""
        picked = {}
        for name in names:
            section, field = name.split(".")
            picked[name] = getattr(getattr(self, section), field)
        return picked


# Each section once, with the title and description the run form shows above it.
Source = Annotated[DataSettings, Field(title="Data", description="Where the reviews come from.")]
Model = Annotated[ModelSettings, Field(title="Model", description="The recurrent network.")]
Training = Annotated[TrainingSettings, Field(title="Training", description="How it is fitted.")]
Text = Annotated[TextSettings, Field(title="Text to ids", description="Vocabulary and padding.")]
DataGate = Annotated[
    DataGateSettings, Field(title="Data gate", description="Checks on the data before training.")
]
Registry = Annotated[
    RegistrySettings,
    Field(
        title="Registry, gate and storage",
        description="The MLflow registry, the promotion gate and the artifact root.",
    ),
]
Sweep = Annotated[SweepSettings, Field(title="Sweep", description="The candidates to train.")]


class RetrainConfig(_Grouped):
    """Parameters of one retraining run."""

    source: Source = DataSettings()
    model: Model = ModelSettings()
    training: Training = TrainingSettings()
    text: Text = TextSettings()
    data_gate: DataGate = DataGateSettings()
    registry: Registry = RegistrySettings()


class SweepConfig(_Grouped):
    """Parameters of a sweep: the retraining parameters plus the candidates and where they run.

    Every candidate is the retraining configuration with its cell (and, optionally, units,
    embedding size and dropout) replaced; the grids multiply. An empty grid keeps the single
    value of the retraining field.
    """

    source: Source = DataSettings()
    sweep: Sweep = SweepSettings()
    model: Model = ModelSettings()
    training: Training = TrainingSettings()
    text: Text = TextSettings()
    data_gate: DataGate = DataGateSettings()
    registry: Registry = RegistrySettings()

    def base(self) -> RetrainConfig:
        """The retraining configuration shared by every candidate."""
        return RetrainConfig.model_validate(
            {name: getattr(self, name) for name in RetrainConfig.model_fields}
        )


SECTION_MODELS: tuple[type[BaseModel], ...] = (
    DataSettings,
    ModelSettings,
    TrainingSettings,
    TextSettings,
    DataGateSettings,
    RegistrySettings,
    SweepSettings,
)


ARTIFACT_ROOT = "registry.artifact_root"


@dataclass(frozen=True)
class ConfigSlice:
    """The configuration fields one stage reads, declared once beside the stage's logic.

    Attributes:
        output: Dotted names (``"text.maxlen"``) of the fields that change what the stage
            writes: its cache key and its artifacts' manifests are made of them.
        also_reads: Fields the stage also reads that change how it runs, not what it writes
            (memory per chunk, threads, where the registry is), or whose effect the cache key
            covers otherwise (the source's content, by its fingerprint).
    """

    output: tuple[str, ...]
    also_reads: tuple[str, ...] = ()

    def values(self, config: RetrainConfig) -> dict[str, Any]:
        """The output fields' values: what a manifest records and the cache key covers."""
        return config.pick(self.output)

    @property
    def reads(self) -> frozenset[str]:
        """Every field the stage may read: its own, and the artifact root every stage uses.

        The artifact root is part of every stage's cache key (see `StageCache`), not of a slice.
        """
        return frozenset(self.output) | frozenset(self.also_reads) | {ARTIFACT_ROOT}
