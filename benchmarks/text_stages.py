"""Time tokenize + pad of IMDB reviews: the legacy Tokenizer, TextVectorization and ours.

Each pipeline fits a 5000-id vocabulary on the train rows, encodes every row and pads to 500 ids:

- legacy: ``tf_keras`` ``Tokenizer(num_words=5000)`` + ``keras.utils.pad_sequences``;
- TextVectorization: ``keras.layers.TextVectorization``, adapted and called through ``tf.data``
  batches of 1024 (the call mapped with ``AUTOTUNE``), the fastest of the ways we tried;
- ours: what the tokenize and pad stages compute, ``fit_vocabulary_and_encode`` (tokenize, fit,
  encode) → ``pad_token_ids`` (their Parquet reads and writes not timed).

Every (pipeline, scale) runs in its own fresh child process of this script, so its peak memory
is its own. At scale k the reviews are replicated k times, each copy with a distinct suffix
(" copy0", " copy1", ...) so that no two texts are equal; only ours runs at scales above 1.

    python benchmarks/text_stages.py --data ../shared/datasets/imdb/reviews.parquet

Use ``--scales 1 4`` to choose the scales, ``--rows 2000`` for a quick run on a sample.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from rnn_retrain.environment.quiet import load_tensorflow_quietly, prepare_environment

VOCAB_SIZE = 5000
MAXLEN = 500
BATCH_SIZE = 1024
# Top tokens compared by the vocabulary check: ours holds VOCAB_SIZE - 2 (padding, OOV).
COMPARED_TOKENS = VOCAB_SIZE - 2
PIPELINES = ("legacy", "textvectorization", "ours")
PIPELINE_TITLES = {
    "legacy": "legacy",
    "textvectorization": "TextVectorization",
    "ours": "ours",
}
SPEED_TARGETS = {"legacy": 5.0, "textvectorization": 2.0}
MEBIBYTE = 1024 * 1024
POLL_SECONDS = 0.1


# ---------------------------------------------------------------------------------------------
# Worker side: one pipeline at one scale, in a fresh process.
# ---------------------------------------------------------------------------------------------


def load_reviews(path: str, rows: int | None, scale: int) -> tuple[Any, Any]:
    """Read the reviews, sample ``rows`` of them evenly if asked, replicate ``scale`` times.

    Returns:
        The texts (a pyarrow array) and a boolean pyarrow array, true on train rows.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["text", "split"])
    if rows is not None and rows < table.num_rows:
        # The file is ordered by split: an even spread keeps both splits in the sample.
        table = table.take(np.linspace(0, table.num_rows - 1, rows).astype(np.int64))
    texts = table["text"].combine_chunks()
    is_train = pc.equal(table["split"], "train").combine_chunks()
    if scale == 1:
        return texts, is_train
    copies = [pc.binary_join_element_wise(texts, f" copy{copy}", "") for copy in range(scale)]
    return pa.concat_arrays(copies), pa.concat_arrays([is_train] * scale)


def prepare_legacy(texts: Any, is_train: Any) -> dict[str, Any]:
    """Python lists of strings, what the legacy Tokenizer reads."""
    all_texts = texts.to_pylist()
    train_texts = texts.filter(is_train).to_pylist()
    return {"all_texts": all_texts, "train_texts": train_texts}


def run_legacy(all_texts: list[str], train_texts: list[str]) -> tuple[Any, list[str]]:
    """Fit the legacy Tokenizer on train texts, encode all texts, pad with pad_sequences."""
    import keras
    from tf_keras.preprocessing.text import Tokenizer

    tokenizer = Tokenizer(num_words=VOCAB_SIZE)
    tokenizer.fit_on_texts(train_texts)
    sequences = tokenizer.texts_to_sequences(all_texts)
    padded = keras.utils.pad_sequences(sequences, maxlen=MAXLEN)
    ranked = sorted(tokenizer.word_index, key=tokenizer.word_index.__getitem__)
    return padded, ranked[:COMPARED_TOKENS]


def prepare_textvectorization(texts: Any, is_train: Any) -> dict[str, Any]:
    """String tensors, what TextVectorization reads."""
    import tensorflow as tf

    return {
        "all_texts": tf.constant(texts.to_pylist()),
        "train_texts": tf.constant(texts.filter(is_train).to_pylist()),
    }


def run_textvectorization(all_texts: Any, train_texts: Any) -> tuple[Any, list[str]]:
    """Adapt TextVectorization on train batches, map it over all batches, gather the ids."""
    import keras
    import numpy as np
    import tensorflow as tf

    layer = keras.layers.TextVectorization(max_tokens=VOCAB_SIZE, output_sequence_length=MAXLEN)
    layer.adapt(tf.data.Dataset.from_tensor_slices(train_texts).batch(BATCH_SIZE))
    batches = (
        tf.data.Dataset.from_tensor_slices(all_texts)
        .batch(BATCH_SIZE)
        .map(layer, num_parallel_calls=tf.data.AUTOTUNE)
    )
    padded = np.concatenate([batch.numpy() for batch in batches])
    # Ids 0 and 1 are padding and [UNK], as in ours.
    return padded, layer.get_vocabulary()[2:VOCAB_SIZE]


def prepare_ours(texts: Any, is_train: Any) -> dict[str, Any]:
    """Pyarrow arrays, what the project's functions read."""
    return {"texts": texts, "is_train": is_train}


def run_ours(texts: Any, is_train: Any) -> tuple[Any, list[str]]:
    """Tokenize, fit the vocabulary on train rows and encode, then pad: the two stages' steps."""
    from rnn_retrain.data.preprocessing import pad_token_ids
    from rnn_retrain.stages.tokenize import fit_vocabulary_and_encode

    vocabulary, token_ids = fit_vocabulary_and_encode(texts, is_train, VOCAB_SIZE)
    padded = pad_token_ids(token_ids, MAXLEN)
    return padded, vocabulary["token"].to_pylist()


PREPARERS = {
    "legacy": prepare_legacy,
    "textvectorization": prepare_textvectorization,
    "ours": prepare_ours,
}
RUNNERS = {"legacy": run_legacy, "textvectorization": run_textvectorization, "ours": run_ours}


def import_pipeline(pipeline: str) -> None:
    """Import what a pipeline needs before the memory baseline is read."""
    if pipeline == "ours":
        import rnn_retrain.data.preprocessing  # noqa: F401
        import rnn_retrain.tasks.tokenize  # noqa: F401  (imports Prefect)
    else:
        load_tensorflow_quietly()
        import tensorflow  # noqa: F401
    if pipeline == "legacy":
        import tf_keras.preprocessing.text  # noqa: F401


def status_mebibytes(field: str) -> float:
    """A memory field of this process's /proc status (VmRSS now, VmHWM peak), in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} missing from /proc/self/status")


def reset_peak_memory() -> None:
    """Reset this process's peak resident memory (VmHWM) to its current resident memory."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def run_worker(args: argparse.Namespace) -> None:
    """Time one pipeline at one scale and write the result as JSON to ``args.result``."""
    import_pipeline(args.worker)
    texts, is_train = load_reviews(args.data, args.rows, args.scale)
    inputs = PREPARERS[args.worker](texts, is_train)
    del texts, is_train
    gc.collect()
    loaded_mib = status_mebibytes("VmRSS")
    reset_peak_memory()
    seconds, vocabulary, shape = [], [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        padded, vocabulary = RUNNERS[args.worker](**inputs)
        seconds.append(time.perf_counter() - started)
        shape = list(padded.shape)
        del padded
        gc.collect()
    result = {
        "seconds": seconds,
        "loaded_mib": loaded_mib,
        "timed_peak_mib": status_mebibytes("VmHWM"),
        "shape": shape,
        "vocabulary": vocabulary if args.scale == 1 else [],
    }
    with open(args.result, "w") as handle:
        json.dump(result, handle)


# ---------------------------------------------------------------------------------------------
# Parent side: start the workers, watch their memory, build the table.
# ---------------------------------------------------------------------------------------------


@dataclass
class Measurement:
    """One worker's outcome: best wall time and memory, or why it failed."""

    pipeline: str
    scale: int
    best_seconds: float | None
    peak_mib: float  # ru_maxrss of the child: imports + data + pipeline.
    loaded_mib: float | None  # The child's VmRSS after imports and data, before timing.
    timed_peak_mib: float | None  # The child's peak VmRSS while timed (VmHWM reset at start).
    vocabulary: list[str]
    rows: int | None
    failure: str | None

    @property
    def pipeline_mib(self) -> float | None:
        """Peak memory above the loaded baseline: what the pipeline itself added."""
        if self.loaded_mib is None or self.timed_peak_mib is None:
            return None
        return self.timed_peak_mib - self.loaded_mib


def available_mebibytes() -> float:
    """Memory the kernel says is available now (MemAvailable), in MiB."""
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("MemAvailable missing from /proc/meminfo")


def child_resident_mebibytes(pid: int) -> float:
    """A child's resident memory now, in MiB (0 once it has gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def describe_exit(wait_status: int) -> str | None:
    """None for a clean exit, otherwise the exit code or signal in words."""
    if os.WIFSIGNALED(wait_status):
        return f"killed by {signal.Signals(os.WTERMSIG(wait_status)).name}"
    code = os.WEXITSTATUS(wait_status)
    return None if code == 0 else f"exit code {code}"


def measure(
    pipeline: str, scale: int, args: argparse.Namespace, memory_limit_mib: float
) -> Measurement:
    """Run one pipeline at one scale in a fresh child and collect its times and peak memory.

    The child is stopped if its resident memory passes ``memory_limit_mib``, so a scale too big
    for the machine is reported instead of taking the machine down.
    """
    repeats = args.repeats if scale == 1 else args.scale_repeats
    with tempfile.TemporaryDirectory() as scratch:
        result_path = os.path.join(scratch, "result.json")
        stderr_path = os.path.join(scratch, "stderr.txt")
        command = [
            sys.executable, os.path.abspath(__file__), "--data", args.data,
            "--worker", pipeline, "--scale", str(scale), "--repeats", str(repeats),
            "--result", result_path,
        ]  # fmt: skip
        if args.rows is not None:
            command += ["--rows", str(args.rows)]
        with open(stderr_path, "w") as stderr:
            child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
            wait_status, usage, over_limit = watch_child(child, memory_limit_mib)
        failure = describe_exit(wait_status)
        if over_limit:
            failure = f"stopped above the {memory_limit_mib / 1024:.1f} GiB memory limit"
        elif failure is not None:
            with open(stderr_path) as stderr:
                failure += ": " + (stderr.read().strip().splitlines() or [""])[-1][:120]
        peak_mib = usage.ru_maxrss / 1024
        if failure is not None:
            return Measurement(pipeline, scale, None, peak_mib, None, None, [], None, failure)
        with open(result_path) as handle:
            result = json.load(handle)
    return Measurement(
        pipeline,
        scale,
        min(result["seconds"]),
        peak_mib,
        result["loaded_mib"],
        result["timed_peak_mib"],
        result["vocabulary"],
        result["shape"][0],
        None,
    )


def watch_child(
    child: subprocess.Popen, memory_limit_mib: float
) -> tuple[int, resource.struct_rusage, bool]:
    """Wait for a child, killing it above the memory limit; its wait status and own rusage."""
    over_limit = False
    while True:
        pid, wait_status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid == child.pid:
            child.returncode = os.waitstatus_to_exitcode(wait_status)
            return wait_status, usage, over_limit
        if not over_limit and child_resident_mebibytes(child.pid) > memory_limit_mib:
            over_limit = True
            child.kill()
        time.sleep(POLL_SECONDS)


def format_seconds(measurement: Measurement) -> str:
    """Best wall time in seconds, or the failure."""
    if measurement.best_seconds is None:
        return f"failed ({measurement.failure})"
    return f"{measurement.best_seconds:.2f} s"


def format_memory(measurement: Measurement) -> str:
    """Peak memory above the loaded baseline, with the child's whole peak in brackets."""
    if measurement.pipeline_mib is None:
        return f"n/a (peak {measurement.peak_mib:,.0f} MiB; {measurement.failure})"
    return f"{measurement.pipeline_mib:,.0f} MiB ({measurement.peak_mib:,.0f})"


def ratio_row(
    figure: str, baseline: float | None, ours: float | None, unit: str, target: float | None
) -> list[str]:
    """A row comparing a baseline figure with ours: ratio baseline / ours, then the target."""
    if baseline is None or ours is None or ours <= 0:
        return [figure, "n/a", "n/a", "n/a", f"≥ {target:g}×" if target else "report", "—"]
    ratio = baseline / ours
    met = "—" if target is None else ("yes" if ratio >= target else "NO")
    return [
        figure,
        f"{baseline:,.2f} {unit}",
        f"{ours:,.2f} {unit}",
        f"{ratio:.2f}×",
        f"≥ {target:g}×" if target else "report",
        met,
    ]


def baseline_rows(measurements: dict[tuple[str, int], Measurement]) -> list[list[str]]:
    """Rows for the 1× comparison with each baseline: wall time, then peak memory."""
    ours = measurements[("ours", 1)]
    rows = []
    for pipeline, target in SPEED_TARGETS.items():
        baseline = measurements[(pipeline, 1)]
        title = PIPELINE_TITLES[pipeline]
        row = ratio_row(
            f"1× wall, vs {title}", baseline.best_seconds, ours.best_seconds, "s", target
        )
        if baseline.failure is not None:
            row[1] = format_seconds(baseline)
        rows.append(row)
        memory_row = ratio_row(
            f"1× memory, vs {title}",
            baseline.pipeline_mib,
            ours.pipeline_mib,
            "MiB",
            None,
        )
        memory_row[1:3] = [format_memory(baseline), format_memory(ours)]
        rows.append(memory_row)
    return rows


def scale_rows(
    measurements: dict[tuple[str, int], Measurement], scales: list[int]
) -> list[list[str]]:
    """Rows for ours at each scale above 1: time growth against linear, then peak memory."""
    one = measurements[("ours", 1)].best_seconds
    rows = []
    for scale in scales:
        if scale == 1:
            continue
        ours = measurements[("ours", scale)]
        if ours.best_seconds is None or one is None:
            growth_cell, met = format_seconds(ours), "NO"
        else:
            growth = ours.best_seconds / (one * scale)
            growth_cell = f"{ours.best_seconds:.2f} s; growth {growth:.2f}"
            met = "yes" if growth <= 1.0 else "NO"
        rows.append([f"{scale}× wall, ours", "n/a", growth_cell, "n/a", "growth ≤ 1.00", met])
        rows.append([f"{scale}× memory, ours", "n/a", format_memory(ours), "n/a", "report", "—"])
    return rows


def vocabulary_rows(measurements: dict[tuple[str, int], Measurement]) -> list[list[str]]:
    """Rows comparing our top tokens with each baseline's: Jaccard index and shared tokens."""
    ours = set(measurements[("ours", 1)].vocabulary)
    rows = []
    for pipeline in SPEED_TARGETS:
        theirs = set(measurements[(pipeline, 1)].vocabulary)
        figure = f"vocabulary, vs {PIPELINE_TITLES[pipeline]}"
        if not ours or not theirs:
            rows.append([figure, "n/a", "n/a", "n/a", "report", "—"])
            continue
        shared = len(ours & theirs)
        jaccard = shared / len(ours | theirs)
        rows.append([figure, f"{len(theirs)} tokens", f"{len(ours)} tokens",
                     f"J {jaccard:.3f}, {shared} shared", "report", "—"])  # fmt: skip
    return rows


def vocabulary_differences(measurements: dict[tuple[str, int], Measurement], shown: int) -> str:
    """The most frequent tokens only the legacy Tokenizer keeps, and only ours keeps."""
    ours = measurements[("ours", 1)].vocabulary
    legacy = measurements[("legacy", 1)].vocabulary
    only_legacy = [token for token in legacy if token not in set(ours)][:shown]
    only_ours = [token for token in ours if token not in set(legacy)][:shown]
    return f"legacy only: {', '.join(only_legacy)}; ours only: {', '.join(only_ours)}"


def machine_line() -> str:
    """Cores, memory and versions of the machine the benchmark ran on."""
    from importlib.metadata import version

    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    versions = ", ".join(
        f"{package} {version(package)}"
        for package in ("keras", "tensorflow", "tf_keras", "pyarrow", "numpy")
    )
    return (
        f"machine: {os.cpu_count()} cores, {memory_gib:.0f} GiB RAM, {platform.machine()}, "
        f"Python {platform.python_version()}; {versions}"
    )


FOOTER = (
    "Wall: best of --repeats runs at 1× (--scale-repeats above 1×) of fit on train rows + encode "
    "all rows + pad to {maxlen}, inputs already in memory in each pipeline's own form (Python "
    "lists, tf string tensors, pyarrow arrays); conversion not timed.",
    "Memory: each (pipeline, scale) runs in a fresh child process; shown is the child's peak "
    "resident memory while timed (VmHWM, reset once imports and data are loaded) minus its "
    "resident memory at that point (VmRSS), i.e. what the pipeline adds; in brackets the whole "
    "child's peak (ru_maxrss from wait4: imports + data + pipeline). Memory ratio = baseline / "
    "ours.",
    "TextVectorization: adapt on tf.data batches of {batch}, call mapped over batches of {batch} "
    "with AUTOTUNE (faster than one direct call here); it pads/truncates at the end ('post'), "
    "legacy pad_sequences and ours at the start ('pre').",
    "Scale k: growth = t_k / (k · t_1), at most 1.00 when time grows no worse than linearly; the "
    "rows replicated k times, each copy suffixed ' copy0', ' copy1', ... (one extra "
    "token per text, and the suffix tokens enter the vocabulary).",
    "Vocabulary: J = Jaccard index of the top {top} tokens of each fit (ids 2-4999 for ours and "
    "TextVectorization, word_index 1-4998 for legacy). Ours drops HTML tags and apostrophes (don't → dont) and splits on any other "
    "punctuation; the legacy Tokenizer keeps apostrophes (don't, it's) and keeps 'br' from "
    "<br />; TextVectorization strips punctuation without splitting and also keeps 'br'.",
)


def build_table(
    measurements: dict[tuple[str, int], Measurement], scales: list[int], data_name: str
) -> Table:
    """The one results table: figure, baseline, ours, ratio, target, met?."""
    rows = measurements[("ours", 1)].rows
    table = Table(title=f"Tokenize + pad on {data_name} ({rows:,} rows at 1×)" if rows else None)
    table.add_column("figure")
    for column in ("baseline", "ours", "ratio", "target", "met?"):
        table.add_column(column, justify="right")
    for row in baseline_rows(measurements) + scale_rows(measurements, scales):
        table.add_row(*row)
    for row in vocabulary_rows(measurements):
        table.add_row(*row)
    return table


def run_benchmark(args: argparse.Namespace) -> None:
    """Measure every pipeline at 1× and ours at each other scale, then print the table."""
    scales = sorted(set(args.scales) | {1})
    memory_limit_mib = args.memory_fraction * available_mebibytes()
    jobs = [(pipeline, 1) for pipeline in PIPELINES] + [("ours", s) for s in scales if s != 1]
    console = Console()
    started = time.perf_counter()
    measurements = {}
    for pipeline, scale in jobs:
        console.log(f"{PIPELINE_TITLES[pipeline]} at {scale}×")
        measurements[(pipeline, scale)] = measure(pipeline, scale, args, memory_limit_mib)
    console.print(build_table(measurements, scales, os.path.basename(args.data)))
    for note in FOOTER:
        console.print("• " + note.format(maxlen=MAXLEN, batch=BATCH_SIZE, top=COMPARED_TOKENS))
    if measurements[("ours", 1)].vocabulary and measurements[("legacy", 1)].vocabulary:
        console.print("• Top differences: " + vocabulary_differences(measurements, shown=8))
    console.print(machine_line())
    console.print(f"total: {time.perf_counter() - started:.0f} s")


def parse_arguments() -> argparse.Namespace:
    """The command line; ``--worker`` and ``--result`` are internal, for the child processes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="IMDB Parquet (text, split)")
    parser.add_argument("--scales", nargs="+", type=int, default=[1, 4, 10])
    parser.add_argument("--rows", type=int, help="sample this many rows (a quick run)")
    parser.add_argument("--repeats", type=int, default=3, help="runs at 1×; the best counts")
    parser.add_argument("--scale-repeats", type=int, default=2, help="runs at each scale above 1×")
    parser.add_argument(
        "--memory-fraction",
        type=float,
        default=0.8,
        help="stop a child whose memory passes this share of the memory available at start",
    )
    parser.add_argument("--worker", choices=PIPELINES, help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    """Run the benchmark, or, with the internal ``--worker``, one measurement of it."""
    args = parse_arguments()
    prepare_environment()
    if args.worker:
        run_worker(args)
    else:
        run_benchmark(args)


if __name__ == "__main__":
    main()
