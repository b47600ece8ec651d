"""Will training fit in memory? A lower bound of what a recipe needs, and what this machine has.

Running out of memory during training can rarely be caught: the kernel's OOM killer (or a
container's memory limit) ends the process with SIGKILL, and TensorFlow may abort or crash on a
failed allocation instead of raising. So the train stage checks before it builds the network: a
recipe whose weights, gradients, optimizer slots and activations alone exceed the memory this
process may use is refused with one line, and nothing is trained. The estimate is a lower bound
(TensorFlow's own buffers are not counted), so a recipe it lets through may still fail; that
failure, when TensorFlow reports it, is told by `rnn_retrain.environment.faults`.
"""

from __future__ import annotations

from pathlib import Path

from rnn_retrain.config.sections import ModelSettings
from rnn_retrain.errors import EXIT_ENVIRONMENT, RetrainError

FLOAT_BYTES = 4
# Weights, their gradients, and Adam's two moment slots.
COPIES_PER_WEIGHT = 4
GATES = {"simplernn": 1, "gru": 3, "lstm": 4}
_CGROUP_ROOT = Path("/sys/fs/cgroup")
_NO_LIMIT = 1 << 60  # cgroup v1 reports "no limit" as a number near 2**63.


class OutOfMemoryError(RetrainError):
    """The recipe cannot fit in the memory this process may use."""

    exit_code = EXIT_ENVIRONMENT


def count_weights(vocabulary_size: int, model: ModelSettings, classes: int = 2) -> int:
    """The network's number of weights, as `rnn_retrain.model.network.build_model` builds it."""
    gates = GATES[model.cell]
    directions = 2 if model.bidirectional else 1
    total = vocabulary_size * model.embedding_dim
    width = model.embedding_dim
    for _ in range(model.rnn_layers):
        # Input kernel, recurrent kernel and bias per gate; GRU's reset_after has a second bias.
        biases = 2 if model.cell == "gru" else 1
        per_direction = gates * model.units * (width + model.units + biases)
        total += directions * per_direction
        width = directions * model.units
    if model.pooling == "max_mean":
        width *= 2  # The max and the mean over time, side by side.
    outputs = classes if classes > 2 else 1  # K softmax units, or one sigmoid unit.
    return total + (width + 1) * outputs + ngram_weights(model, classes)


def ngram_weights(model: ModelSettings, classes: int = 2) -> int:
    """The n-gram branch's weights: a fixed ratio and a learned weight per bucket and output."""
    if not model.ngrams:
        return 0
    return 2 * model.ngram_buckets * (classes if classes > 2 else 1)


def training_bytes(vocabulary_size: int, model: ModelSettings, batch_size: int, maxlen: int) -> int:
    """A lower bound of the memory training needs: weights with their gradients and Adam's
    slots, plus the per-step activations that back-propagation through time keeps."""
    directions = 2 if model.bidirectional else 1
    # The fixed ratios have no gradient or slots: half the branch's weights, counted once.
    fixed = ngram_weights(model) // 2
    weights = (count_weights(vocabulary_size, model) - fixed) * COPIES_PER_WEIGHT + fixed
    gate_outputs = GATES[model.cell] * model.units * directions * model.rnn_layers
    # Each review's n-grams: an int64 id per token and order, and their sorted copy.
    ngram_ids = 2 * 2 * model.ngrams
    activations = batch_size * maxlen * (gate_outputs + model.embedding_dim + ngram_ids)
    return (weights + activations) * FLOAT_BYTES


def available_bytes() -> tuple[int, str]:
    """Memory this process may still use, and what limits it (the machine or its cgroup)."""
    available, source = _meminfo_available(), "this machine's available memory"
    limit = _cgroup_room()
    if limit is not None and limit < available:
        available, source = limit, "this container's (cgroup's) memory limit"
    return available, source


def check_fits(vocabulary_size: int, model: ModelSettings, batch_size: int, maxlen: int) -> None:
    """Raise `OutOfMemoryError` when the recipe cannot fit, naming both figures and the fix."""
    needed = training_bytes(vocabulary_size, model, batch_size, maxlen)
    available, source = available_bytes()
    if needed > available:
        raise OutOfMemoryError(
            f"out of memory for training: this recipe needs at least {_gib(needed)} GiB, "
            f"{source} leaves {_gib(available)} GiB; lower --units, --rnn-layers, "
            "--embedding-dim, --batch-size or --maxlen, or run on a bigger machine"
        )


def _gib(size: int) -> str:
    return f"{size / 2**30:.1f}"


def _meminfo_available() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:  # Not Linux: nothing to check against.
        pass
    return _NO_LIMIT


def _cgroup_room() -> int | None:
    """The room left under this process's cgroup memory limit (v2 or v1), None without one."""
    try:
        entries = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    rooms = []
    for entry in entries:
        _, controllers, group = entry.split(":", 2)
        relative = group.lstrip("/")
        if controllers == "":  # cgroup v2: one unified hierarchy.
            folder = _CGROUP_ROOT / relative
            rooms.append(_room(folder / "memory.max", folder / "memory.current", "inactive_file"))
        elif "memory" in controllers.split(","):
            folder = _CGROUP_ROOT / "memory" / relative
            usage = folder / "memory.usage_in_bytes"
            rooms.append(_room(folder / "memory.limit_in_bytes", usage, "total_inactive_file"))
    known = [room for room in rooms if room is not None]
    return min(known) if known else None


def _room(limit_file: Path, usage_file: Path, reclaimable: str) -> int | None:
    """Limit minus usage, not counting the file cache the kernel would drop before failing."""
    try:
        limit_text = limit_file.read_text().strip()
        usage = int(usage_file.read_text().strip())
        stats = dict(line.split() for line in (usage_file.parent / "memory.stat").open())
    except (OSError, ValueError):
        return None
    if limit_text == "max" or int(limit_text) >= _NO_LIMIT:
        return None
    return max(int(limit_text) - usage + int(stats.get(reclaimable, 0)), 0)
