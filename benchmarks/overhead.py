"""Where a run spends its seconds outside ``fit``: start-up, Prefect's API, each stage, teardown.

Every figure is a fresh ``retrain`` process with a home of its own (``RETRAIN_HOME`` and
``PREFECT_HOME`` in a temporary folder, no ``PREFECT_API_URL`` or ``MLFLOW_TRACKING_URI``), as a
new user's machine has it:

- ``retrain --help`` (the median of three);
- the README's demo run on an empty home, every default;
- the same command twice more: the first re-run validates again (the champion it checks
  against is new), the second finds every stage in the cache and registers nothing;
- ``retrain predict "text"`` on the champion those runs left;
- with ``--data``, a run of the tutorial recipe (``--cell simplernn``) on that file, once cold.

Each run's time is split by the timestamps of its own log lines (Prefect's console format) into:
start-up (process start to the API's start, or to the flow's start when a server is
configured), Prefect's API start (to the flow's first line), every stage (its task's first to its
last line), the rest of the flow (orchestration between and around the stages) and teardown
(the flow's last line to the process's exit). ``fit`` is the summary's ``train_seconds``.

    python benchmarks/overhead.py
    python benchmarks/overhead.py --data ../shared/datasets/imdb/reviews.parquet
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from pipeline import RETRAIN, add_run_flags, fresh_home_env
from rich.console import Console
from rich.table import Table

# "15:24:09.512 | INFO    | Task run 'ingest-60d' - ingest: ran (...)"
LOG_LINE = re.compile(r"^(\d\d:\d\d:\d\d\.\d{3}) \| \w+\s*\| (.*)$")
TASK = re.compile(r"^Task run '(.+)-[0-9a-f]{3}' - ")
# The targets of issue 39 (2 cores), in seconds.
TARGETS = {
    "re-run": 5.0,
    "demo beyond fit": 12.0,
    "help": 1.0,
    "predict": 4.0,
    "IMDB beyond fit": 15.0,
}


@dataclass
class Timed:
    """One ``retrain`` process: its wall time, its summary (``--json``) and its phases."""

    wall: float
    summary: dict = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def fit(self) -> float:
        return float(self.summary.get("train_seconds", 0.0)) if self.trained else 0.0

    @property
    def trained(self) -> bool:
        return (self.summary.get("stages") or {}).get("train", {}).get("status") == "ran"


def run_retrain(arguments: list[str], home: Path) -> tuple[float, float, str, str]:
    """``retrain ARGUMENTS`` in a fresh process: its start (epoch seconds), wall, stdout, stderr."""
    started_at, started = time.time(), time.perf_counter()
    result = subprocess.run(
        [RETRAIN, *arguments], env=fresh_home_env(home), capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"retrain {' '.join(arguments)}: {result.stderr.strip()[-2000:]}")
    return started_at, wall, result.stdout, result.stderr


def phases(log: str, started_at: float, wall: float) -> dict[str, float]:
    """A run's seconds by phase, from the timestamps of its log lines (see the module doc)."""
    day = datetime.fromtimestamp(started_at).replace(hour=0, minute=0, second=0, microsecond=0)
    start = datetime.fromtimestamp(started_at)
    stamped: list[tuple[datetime, str]] = []
    for line in log.splitlines():
        if match := LOG_LINE.match(line):
            moment = day + (datetime.strptime(match[1], "%H:%M:%S.%f") - datetime(1900, 1, 1))
            stamped.append((moment if moment >= start else moment + timedelta(days=1), match[2]))
    flow = [moment for moment, text in stamped if text.startswith("Flow run")]
    api = [moment for moment, text in stamped if "Starting temporary server" in text]
    if not flow:
        raise ValueError("no Prefect flow-run lines in the log: was --verbose off?")
    first, last = flow[0], flow[-1]
    spans: dict[str, list[datetime]] = {}
    for moment, text in stamped:
        if match := TASK.match(text):
            spans.setdefault(match[1], []).append(moment)
    seconds = {"start-up": ((api[0] if api else first) - start).total_seconds()}
    if api:
        seconds["Prefect API start"] = (first - api[0]).total_seconds()
    stages = {name: (max(t) - min(t)).total_seconds() for name, t in spans.items()}
    seconds.update(stages)
    seconds["orchestration"] = (last - first).total_seconds() - sum(stages.values())
    seconds["teardown"] = wall - (last - start).total_seconds()
    return seconds


def timed_run(arguments: list[str], home: Path) -> Timed:
    """``retrain run ARGUMENTS --json`` once, split into phases."""
    started_at, wall, out, err = run_retrain(["run", *arguments, "--json"], home)
    return Timed(wall, json.loads(out), phases(err, started_at, wall))


def median_wall(arguments: list[str], home: Path, repeats: int = 3) -> float:
    return statistics.median(run_retrain(arguments, home)[1] for _ in range(repeats))


def phase_table(title: str, runs: dict[str, Timed]) -> Table:
    """One column per run, one row per phase (seconds), then fit, the rest, and the wall."""
    table = Table(title=title)
    table.add_column("phase")
    for name in runs:
        table.add_column(name, justify="right")
    names = list(dict.fromkeys(phase for run in runs.values() for phase in run.phases))
    for phase in names:
        table.add_row(phase, *(_seconds(run.phases.get(phase)) for run in runs.values()))
    table.add_row("of which fit", *(_seconds(run.fit or None) for run in runs.values()))
    table.add_row("beyond fit", *(_seconds(run.wall - run.fit) for run in runs.values()))
    table.add_row("wall", *(_seconds(run.wall) for run in runs.values()))
    return table


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def target_row(figure: str, value: float, target: str) -> list[str]:
    limit = TARGETS[target]
    return [figure, f"{value:.1f} s", f"≤ {limit:g} s", "yes" if value <= limit else "NO"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="also time a tutorial run on this Parquet (IMDB)")
    parser.add_argument("--cell", default="simplernn", help="the cell of the --data run")
    parser.add_argument("--predict-text", default="a wonderful film , the acting was great")
    add_run_flags(parser)
    args = parser.parse_args()
    console = Console(width=160)
    targets = Table(title="Targets (issue 39)")
    for column in ("figure", "measured", "target", "met?"):
        targets.add_column(column, justify="left" if column == "figure" else "right")
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "demo"
        help_wall = median_wall(["--help"], home)
        demo = {"demo, empty home": timed_run(args.run_flags, home)}
        demo["re-run (new champion)"] = timed_run(args.run_flags, home)
        demo["re-run, all cached"] = timed_run(args.run_flags, home)
        predict_wall = median_wall(["predict", args.predict_text], home)
        console.print(phase_table("Demo run (seconds)", demo))
        first, cached = demo["demo, empty home"], demo["re-run, all cached"]
        targets.add_row(*target_row("retrain --help", help_wall, "help"))
        targets.add_row(*target_row('retrain predict "text"', predict_wall, "predict"))
        targets.add_row(*target_row("re-run, all cached", cached.wall, "re-run"))
        targets.add_row(
            *target_row("demo run beyond fit", first.wall - first.fit, "demo beyond fit")
        )
        if args.data:
            imdb_home = Path(folder) / "imdb"
            flags = ["--data", args.data, "--cell", args.cell, *args.run_flags]
            imdb = {f"{args.cell}, {Path(args.data).name}": timed_run(flags, imdb_home)}
            console.print(phase_table("A run on --data (seconds)", imdb))
            (run,) = imdb.values()
            targets.add_row(
                *target_row("--data run beyond fit", run.wall - run.fit, "IMDB beyond fit")
            )
    console.print(targets)


if __name__ == "__main__":
    main()
