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

from pydantic import BaseModel, Field, model_validator

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
    # Bidirectional is the best measured variant of the LSTM alone, a point above the
    # one-directional network (RESULTS.md, "The bidirectional variant, timed on an idle machine").
    "model": {
        "pooling": "max_mean",
        "embedding_dropout": 0.5,
        "dropout": 0.5,
        "bidirectional": True,
    },
    "training": {
        "learning_rate": 2e-3,
        "learning_rate_schedule": "cosine",
        # Every strong fit tried on IMDB was best after epoch 2 or 3 and overfit after it, and
        # two epochs were not robust across seeds (RESULTS.md, "Why the strong LSTM stops short
        # of 0.89: an ablation"). The cosine rate reaches zero at the last epoch.
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
    # The n-gram branch fits the train rows within two epochs (RESULTS.md, "Each half of the
    # hybrid alone, together and stacked"): later epochs only lower validation accuracy.
    "training": {**STRONG_RECIPE["training"], "epochs": 2},
    "text": STRONG_RECIPE["text"],
}
RECIPES = {"strong": STRONG_RECIPE, "hybrid": HYBRID_RECIPE}


def _as_dict(value: Any) -> Any:
    return value.model_dump() if isinstance(value, BaseModel) else value


def apply_recipe(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """Grouped input with the chosen recipe's values put in for the fields left at their defaults.

    "Left at the default" rather than "not given": the Prefect UI sends every field of its form,
    so a field the user never touched arrives with its default value.
    """
    given_model = _as_dict(data.get("model"))
    recipe = given_model.get("recipe") if isinstance(given_model, dict) else None
    if recipe not in RECIPES:
        return data
    data = dict(data)
    for section, values in RECIPES[recipe].items():
        fields = model.model_fields[section].annotation.model_fields  # type: ignore[union-attr]
        given = dict(_as_dict(data.get(section)) or {})
        for name, value in values.items():
            if given.get(name, fields[name].default) == fields[name].default:
                given[name] = value
        data[section] = given
    return data


class _Configuration(BaseModel):
    """What both configurations do: recipes, the cross-section rules, and field names.

    Input comes in sections (``{"model": {"cell": "gru"}}``); `from_flat` and `model_copy` also
    take the fields by flag name (``cell="gru"``), as the CLI and the shared settings give them.
    """

    model_config = FROZEN

    @model_validator(mode="before")
    @classmethod
    def _apply_recipe(cls, data: Any) -> Any:
        return apply_recipe(cls, data) if isinstance(data, dict) else data

    @classmethod
    def by_section(cls, fields: dict[str, Any]) -> dict[str, Any]:
        """Sections as given, and flag names (``cell``) moved into their sections."""
        sections = _sections(cls)
        grouped: dict[str, Any] = {}
        for name, value in fields.items():
            if name in cls.model_fields and isinstance(value, (dict, BaseModel)):
                grouped[name] = {**_as_dict(value), **grouped.get(name, {})}
            elif name in sections:
                grouped.setdefault(sections[name], {})[name] = value
            else:
                grouped[name] = value  # Validation refuses it, naming it.
        return grouped

    @classmethod
    def from_flat(cls, **fields: Any) -> Any:
        """Build from field names alone (``cell="gru", maxlen=200``): the CLI's flags."""
        return cls.model_validate(cls.by_section(fields))

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Any:
        """A copy with ``update`` applied, by flag name or by section, validated like any input.

        Pydantic's own `model_copy` would set a flag name as a stray attribute and change nothing.
        """
        if not update:
            return super().model_copy(deep=deep)
        merged = self.model_dump()
        for name, value in self.by_section(update).items():
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


class _SourceSection(_Configuration):
    """The section every run form opens with: where the reviews come from."""

    source: Source = DataSettings()


class _RunSections(_SourceSection):
    """The sections of one retraining run, declared once: a sweep gives them to each candidate."""

    model: Model = ModelSettings()
    training: Training = TrainingSettings()
    text: Text = TextSettings()
    data_gate: DataGate = DataGateSettings()
    registry: Registry = RegistrySettings()


class _SweepSection(_SourceSection):
    """The sweep's own section, which its form shows right after the data."""

    sweep: Sweep = SweepSettings()


class RetrainConfig(_RunSections):
    """Parameters of one retraining run."""


class SweepConfig(_RunSections, _SweepSection):
    """Parameters of a sweep: the retraining parameters plus the candidates and where they run.

    Every candidate is the retraining configuration with its cell (and, optionally, units,
    embedding size and dropout) replaced; the grids multiply. An empty grid keeps the single
    value of the retraining field.
    """

    # Pydantic orders fields by class, along `__mro__` reversed (_SourceSection, _SweepSection,
    # _RunSections), so the form reads: the source, the sweep, then the run sections.

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
