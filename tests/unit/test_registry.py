"""The registry adapter against a real (SQLite) MLflow store, with placeholder model sources."""

import time
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from rnn_retrain.errors import RetrainError
from rnn_retrain.registry.champion import ChampionHistory
from rnn_retrain.registry.tracking import resolve_tracking_uri
from rnn_retrain.registry.versions import CHAMPION, ModelRegistry


@pytest.fixture
def registry(tmp_path) -> ModelRegistry:
    registry = ModelRegistry("", "reviews")  # The test's own store (tests/conftest.py).
    experiment = registry.tracking.experiment_id()
    for _ in range(3):
        run = registry.tracking.client.create_run(experiment)
        registry.create_version(f"file://{tmp_path}/model", None, run.info.run_id, {"k": "v"})
    return registry


def test_default_store_is_sqlite_in_the_project_home(retrain_home, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert resolve_tracking_uri("") == f"sqlite:///{retrain_home.resolve() / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    assert resolve_tracking_uri("") == "http://mlflow.internal:5000"
    assert resolve_tracking_uri("sqlite:///x.db") == "sqlite:///x.db"


def test_an_unreachable_tracking_server_is_one_clear_error():
    started = time.perf_counter()
    with pytest.raises(RetrainError, match=r"tracking server http://127\.0\.0\.1:9 is unreachable"):
        ModelRegistry("http://127.0.0.1:9", "reviews")
    assert time.perf_counter() - started < 30


def test_missing_champion_version_and_alias_are_named(registry):
    assert registry.champion() is None
    with pytest.raises(RetrainError, match="has no champion yet; run `retrain run` first"):
        registry.get_version(alias=CHAMPION)
    with pytest.raises(RetrainError, match="'reviews' has no version 9"):
        registry.get_version(version=9)
    with pytest.raises(RetrainError, match="'reviews' has no alias 'staging'"):
        registry.get_version(alias="staging")


def test_champion_moves_are_recorded_and_answer_which_was_serving_when(registry):
    first = ChampionHistory(registry).move("1", "promotion", "first model", "flow-a")
    between = datetime.now(timezone.utc)
    time.sleep(0.01)
    ChampionHistory(registry).move("2", "promotion", "better", "flow-b")
    assert str(registry.champion().version) == "2"
    history = ChampionHistory(registry).moves()
    assert [(move.version, move.previous_version, move.flow_run_id) for move in history] == [
        ("1", None, "flow-a"),
        ("2", "1", "flow-b"),
    ]
    assert ChampionHistory(registry).at(between) == first
    assert ChampionHistory(registry).at(datetime(2000, 1, 1, tzinfo=timezone.utc)) is None
    assert registry.aliases() == {"2": [CHAMPION]}


def test_rollback_walks_back_through_earlier_champions(registry):
    for version in ("1", "2", "3"):
        ChampionHistory(registry).move(version, "promotion", f"promote {version}", None)
    assert ChampionHistory(registry).rollback().version == "2"
    assert ChampionHistory(registry).rollback().version == "1"
    assert str(registry.champion().version) == "1"
    with pytest.raises(RetrainError, match="no earlier champion to roll back to from version 1"):
        ChampionHistory(registry).rollback()
    assert [move.kind for move in ChampionHistory(registry).moves()] == ["promotion"] * 3 + [
        "rollback"
    ] * 2


def test_rollback_without_a_champion_is_refused(registry):
    with pytest.raises(RetrainError, match="has no champion to roll back"):
        ChampionHistory(registry).rollback()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_uri(request, tmp_path) -> Iterator[str]:
    """An empty MLflow store: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    from databases import postgres_database

    with postgres_database("registry") as url:
        yield url


def test_a_version_is_found_by_its_lineage_tag_on_the_stores_side(store_uri, tmp_path):
    registry = ModelRegistry(store_uri, "reviews")
    other = ModelRegistry(store_uri, "other-model")
    experiment = registry.tracking.experiment_id()
    for model, lineage in ((registry, "abc"), (registry, "def"), (other, "abc"), (registry, "abc")):
        run = model.tracking.client.create_run(experiment)
        model.create_version(
            f"file://{tmp_path}/m", None, run.info.run_id, {"lineage_key": lineage}
        )
    # The oldest version of this model with the tag; another model's versions are not looked at.
    assert str(registry.version_with_tag("lineage_key", "abc").version) == "1"
    assert str(registry.version_with_tag("lineage_key", "def").version) == "2"
    assert str(other.version_with_tag("lineage_key", "abc").version) == "1"
    assert registry.version_with_tag("lineage_key", "zzz") is None
    assert registry.version_with_tag("no_such_tag", "abc") is None
    with pytest.raises(ValueError, match="cannot hold quotes"):
        registry.version_with_tag("lineage_key", "x' OR name = 'other-model")
