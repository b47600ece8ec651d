"""`retrain gc` on a real registry and artifact root: it removes what nothing refers to, lists it
first with --dry-run, and never touches what the champion, the challenger or the history need."""

from __future__ import annotations

import json

import pytest

from rnn_retrain.interface.cli import main
from rnn_retrain.registry.versions import ModelRegistry

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]

TINY = ["--demo-size", "200", "--epochs", "1", "--maxlen", "20", "--units", "4", "--no-xla"]
NOW = ["--older-than-days", "0", "--versions-older-than-days", "0"]


def run(capsys, *args: str) -> dict:
    assert main(["run", *TINY, *args, "--json"]) in (0, 6)
    return json.loads(capsys.readouterr().out)


def test_gc_removes_only_what_nothing_refers_to_and_lists_it_first(capsys, tmp_path):
    root = tmp_path / "artifacts"
    common = ["--artifact-root", str(root)]
    # v1 becomes champion; v2 and v3 cannot clear the floor, so each stays challenger in turn:
    # v2 is left with no alias and no place in the champion history.
    first = run(capsys, *common, "--min-accuracy", "0")
    second = run(capsys, *common, "--seed", "2", "--min-accuracy", "1")
    third = run(capsys, *common, "--seed", "3", "--min-accuracy", "1")
    registry = ModelRegistry("", "review-sentiment")
    assert registry.aliases() == {"1": ["champion"], "3": ["challenger"]}
    before = sorted(path.name for path in (root / "runs").iterdir())

    assert main(["gc", *NOW, "--artifact-root", str(root), "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    going = {(item["kind"], item["name"]) for item in plan["remove"]}
    assert ("model version", "review-sentiment v2") in going
    assert ("run folder", second["run_id"]) in going
    assert all(item["bytes"] > 0 for item in plan["remove"])
    stale = [item for item in plan["remove"] if item["kind"] == "cache record"]
    assert {item["name"].split("/")[0] for item in stale} >= {"train", "evaluate"}
    kept = {(item["kind"], item["name"]): item["reason"] for item in plan["keep"]}
    assert kept[("model version", "review-sentiment v1")] == "alias champion"
    assert kept[("model version", "review-sentiment v3")] == "alias challenger"
    assert kept[("run folder", first["run_id"])] == "run of v1 (alias champion)"
    assert kept[("run folder", third["run_id"])] == "run of v3 (alias challenger)"
    # A dry run removes nothing.
    assert sorted(path.name for path in (root / "runs").iterdir()) == before
    assert len(registry.versions()) == 3

    assert main(["gc", *NOW, "--artifact-root", str(root)]) == 0
    assert "gc: removed" in capsys.readouterr().out
    assert sorted(path.name for path in (root / "runs").iterdir()) == sorted(
        [first["run_id"], third["run_id"]]
    )
    assert sorted(str(v.version) for v in registry.versions()) == ["1", "3"]
    # What stays still works: the champion scores; the removed run's recipe trains again from
    # scratch, its stale cache records gone rather than found broken.
    assert main(["predict", "a wonderful film"]) == 0
    assert "a wonderful film" in capsys.readouterr().out
    again = run(capsys, *common, "--seed", "2", "--min-accuracy", "1")
    assert again["registration"]["version"] == "4"
    stages = again["stages"].values()
    assert all(stage["status"] == "ran" for stage in stages)
    assert not any("recomputed" in stage["reason"] for stage in stages), stages

    # The scheduled form: the `gc` flow. v4 took the challenger alias, so v3 may go now.
    from rnn_retrain.config.housekeeping import GcSettings
    from rnn_retrain.flows.gc import gc

    settings = GcSettings(
        dry_run=True, older_than_days=0, versions_older_than_days=0, artifact_root=str(root)
    )
    names = {(item.kind, item.name) for item in gc(settings).remove}
    assert ("model version", "review-sentiment v3") in names
    assert ("run folder", third["run_id"]) in names
    assert ("model version", "review-sentiment v1") not in names
