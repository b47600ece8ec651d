from rnn_retrain.stages.watch import compare_fingerprints, fingerprint_digest

SECOND = 10**9


def test_the_first_look_only_records_the_source():
    result = compare_fingerprints("in/", None, {"in/a": (10, 0)}, 100 * SECOND, 60 * SECOND)
    assert result.first_look and result.files == 1 and not result.start_run


def test_new_changed_and_removed_files_start_a_run_once_settled():
    before = {"in/a": (10, 1 * SECOND), "in/b": (20, 1 * SECOND), "in/c": (5, 1 * SECOND)}
    after = {"in/a": (10, 1 * SECOND), "in/b": (21, 50 * SECOND), "in/d": (7, 60 * SECOND)}
    fresh = compare_fingerprints("in/", before, after, 100 * SECOND, 60 * SECOND)
    assert (fresh.changed, fresh.removed) == (["in/b", "in/d"], ["in/c"])
    assert fresh.settling == ["in/b", "in/d"] and not fresh.start_run
    settled = compare_fingerprints("in/", before, after, 200 * SECOND, 60 * SECOND)
    assert settled.settling == [] and settled.start_run
    gone = compare_fingerprints("in/", before, {"in/a": (10, 1 * SECOND)}, 200, 60 * SECOND)
    assert gone.removed == ["in/b", "in/c"] and gone.start_run


def test_nothing_changed_starts_nothing_and_the_digest_follows_the_listing():
    listing = {"in/a": (10, 1 * SECOND)}
    same = compare_fingerprints("in/", dict(listing), listing, 100 * SECOND, 0)
    assert not same.start_run and not same.changed and not same.removed
    assert fingerprint_digest(listing) == fingerprint_digest(dict(listing))
    assert fingerprint_digest(listing) != fingerprint_digest({"in/a": (11, 1 * SECOND)})


def test_the_change_event_names_a_bounded_number_of_paths_and_counts_them_all():
    from rnn_retrain.orchestration.events import CHANGED_PATHS_IN_EVENT, source_changed_payload

    changed = [f"in/2026/reviews-{day:04d}.parquet" for day in range(3000)]
    payload = source_changed_payload("in/", "abc", changed, 3000)
    assert payload["changed"] == changed[:CHANGED_PATHS_IN_EVENT]
    assert payload["changed_count"] == 3000 and payload["files"] == 3000
    few = source_changed_payload("in/", "abc", changed[:2], 5)
    assert few["changed"] == changed[:2] and few["changed_count"] == 2


def test_a_failed_runs_event_carries_a_bounded_reason():
    from rnn_retrain.orchestration.events import REASON_IN_EVENT, run_failed_payload

    huge = "1 validation error: " + "x" * 3_000_000
    payload = run_failed_payload("retrain", "Failed", huge)
    assert len(payload["reason"]) == REASON_IN_EVENT and payload["reason"].endswith("…")
    assert payload["reason"][:-1] == huge[: REASON_IN_EVENT - 1]
    assert run_failed_payload("retrain", "Crashed", "killed")["reason"] == "killed"
