"""The source watcher on a folder of realistic size: two years of daily files."""

import datetime
import json
import os
from pathlib import Path

import pytest
from prefect.variables import Variable

from rnn_retrain.flows.watch import watch_source
from rnn_retrain.stages.watch import WatchSettings
from rnn_retrain.tasks.watch import state_variable

pytestmark = [pytest.mark.usefixtures("prefect_server"), pytest.mark.slow]

# Prefect refuses a Variable value longer than this many JSON characters.
VARIABLE_LIMIT = 5000


def daily_file(folder: Path, day: datetime.date) -> Path:
    """One day's export, named as such exports are, written and dated that day."""
    path = folder / f"{day:%Y}" / f"{day:%m}" / f"product-reviews-{day:%Y-%m-%d}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PAR1" + day.isoformat().encode() + b"PAR1")
    stamp = datetime.datetime.combine(day, datetime.time(2, 30)).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def test_two_years_of_daily_files_are_watched_with_a_small_variable(tmp_path: Path):
    folder = tmp_path / "incoming"
    first_day = datetime.date.today() - datetime.timedelta(days=731)
    for offset in range(730):
        daily_file(folder, first_day + datetime.timedelta(days=offset))
    settings = WatchSettings(
        source=str(folder), settle_seconds=0, artifact_root=str(tmp_path / "artifacts")
    )

    first = watch_source(settings)
    assert first.first_look and first.files == 730
    state = Variable.get(state_variable(str(folder)))
    # The listing of 730 paths runs to tens of thousands of characters; the Variable keeps a pointer.
    assert len(json.dumps(state)) < VARIABLE_LIMIT // 5
    assert state["files"] == 730
    listings = list((tmp_path / "artifacts" / "watch").rglob("*.parquet"))
    assert len(listings) == 1

    assert not watch_source(settings).start_run  # Nothing new: no run.
    today = daily_file(folder, first_day + datetime.timedelta(days=730))
    changed = watch_source(settings)
    assert changed.start_run and changed.changed == [str(today)] and changed.files == 731
    # The new listing replaced the old one.
    assert len(list((tmp_path / "artifacts" / "watch").rglob("*.parquet"))) == 1
    assert not watch_source(settings).start_run


def test_a_variable_of_the_earlier_release_is_read_and_replaced(tmp_path: Path):
    folder = tmp_path / "incoming"
    kept = daily_file(folder, datetime.date(2026, 1, 1))
    new = daily_file(folder, datetime.date(2026, 1, 2))
    stat = kept.stat()
    # What earlier releases stored: the whole listing in the Variable.
    Variable.set(
        state_variable(str(folder)), {str(kept): [stat.st_size, stat.st_mtime_ns]}, overwrite=True
    )
    settings = WatchSettings(
        source=str(folder), settle_seconds=0, artifact_root=str(tmp_path / "artifacts")
    )
    result = watch_source(settings)
    assert result.start_run and result.changed == [str(new)]
    assert "listing" in Variable.get(state_variable(str(folder)))
