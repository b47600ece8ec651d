"""Housekeeping (`retrain gc`): what can go, what must stay, and why.

Three things pile up week after week: run folders under the artifact root, stage-cache records
(Prefect's result records and the cache index), and registered versions that never became
champion; on a remote root, also the checkpoint archives of trainings killed and never resumed
(`rnn_retrain.store.checkpoints`). `plan_collection` lists what may go, with its bytes, and what it keeps with the reason;
`collect` removes the planned items. Nothing the registry refers to is ever planned: any version
an alias (champion, challenger, …) points at or that the champion history names, and the run
folders those versions were trained in, stay whatever their age.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.fs as pafs

from rnn_retrain.config.housekeeping import GcSettings
from rnn_retrain.registry.champion import ChampionHistory
from rnn_retrain.registry.versions import ModelRegistry
from rnn_retrain.store import paths
from rnn_retrain.store.artifacts import ArtifactStore
from rnn_retrain.store.cache_records import CacheRecords

DAY_SECONDS = 86_400
RUN_TAG = "prefect.flow_run_id"  # The run folder a version was trained in (tasks/register.py).


@dataclass(frozen=True)
class Item:
    """One thing to remove or keep: its kind, what it is, its bytes, and why."""

    kind: str  # "run folder", "cache record", "model version", "checkpoint archive"
    name: str
    bytes: int
    reason: str


@dataclass
class Plan:
    """What `collect` would remove, and what it keeps on purpose."""

    remove: list[Item] = field(default_factory=list)
    keep: list[Item] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(item.bytes for item in self.remove)


def protected_versions(registry: ModelRegistry) -> dict[str, str]:
    """Every version the registry refers to, with the reference that protects it."""
    protected: dict[str, str] = {}
    for move in ChampionHistory(registry).moves():
        for version in (move.version, move.previous_version):
            if version is not None:
                protected.setdefault(version, "in the champion history")
    for version, aliases in registry.aliases().items():
        protected[str(version)] = "alias " + ", ".join(sorted(aliases))
    return protected


def plan_collection(
    store: ArtifactStore,
    registry: ModelRegistry,
    result_storage: Path,
    run_days: float,
    version_days: float,
    now: float | None = None,
) -> Plan:
    """Plan a collection: run folders and never-promoted versions older than their limits, and
    cache records whose artifacts are gone (or would be, once the planned folders are)."""
    now = time.time() if now is None else now
    plan = Plan()
    protected = protected_versions(registry)
    versions = registry.versions()
    protected_runs = {
        v.tags[RUN_TAG]: f"run of v{v.version} ({protected[str(v.version)]})"
        for v in versions
        if str(v.version) in protected and RUN_TAG in v.tags
    }
    for version in versions:
        number = str(version.version)
        age_days = (now - version.creation_timestamp / 1000) / DAY_SECONDS
        name = f"{registry.model_name} v{number}"
        size = registry.version_bytes(version)
        if number in protected:
            plan.keep.append(Item("model version", name, size, protected[number]))
        elif age_days < version_days:
            plan.keep.append(Item("model version", name, size, f"{age_days:.1f} days old"))
        else:
            reason = f"never promoted, {age_days:.1f} days old"
            plan.remove.append(Item("model version", name, size, reason))
    for run_id, (newest, size) in _run_folders(store).items():
        age_days = (now - newest) / DAY_SECONDS
        if run_id in protected_runs:
            plan.keep.append(Item("run folder", run_id, size, protected_runs[run_id]))
        elif age_days < run_days:
            plan.keep.append(Item("run folder", run_id, size, f"{age_days:.1f} days old"))
        else:
            plan.remove.append(Item("run folder", run_id, size, f"{age_days:.1f} days old"))
    for name, (newest, size) in _checkpoint_archives(store).items():
        age_days = (now - newest) / DAY_SECONDS
        if age_days < run_days:
            plan.keep.append(Item("checkpoint archive", name, size, f"{age_days:.1f} days old"))
        else:
            reason = f"a training that was never resumed, {age_days:.1f} days old"
            plan.remove.append(Item("checkpoint archive", name, size, reason))
    going = {item.name for item in plan.remove if item.kind == "run folder"}
    plan.remove.extend(_stale_cache_records(store, result_storage, going))
    return plan


def collect(
    plan: Plan, store: ArtifactStore, registry: ModelRegistry, result_storage: Path
) -> None:
    """Remove what ``plan`` lists: versions first, so a failure never leaves a version whose
    files are gone."""
    for item in plan.remove:
        if item.kind == "model version":
            registry.delete_version(item.name.rsplit(" v", 1)[1])
    filesystem, base = store.filesystem, store.root_path
    for item in plan.remove:
        if item.kind == "run folder":
            filesystem.delete_dir(paths.runs_folder(base, item.name))
        elif item.kind == "checkpoint archive":
            filesystem.delete_dir(paths.remote_checkpoint_folder(base, item.name))
        elif item.kind == "cache record":
            stage, key = item.name.split("/", 1)
            (result_storage / key).unlink(missing_ok=True)
            CacheRecords(store).delete(stage, key)


def _run_folders(store: ArtifactStore) -> dict[str, tuple[float, int]]:
    """Each run folder: the newest modification time in it (seconds) and its bytes."""
    filesystem, base = store.filesystem, store.root_path
    selector = pafs.FileSelector(paths.runs_folder(base), recursive=True, allow_not_found=True)
    folders: dict[str, tuple[float, int]] = {}
    for info in filesystem.get_file_info(selector):
        if info.type != pafs.FileType.File:
            continue
        run_id = info.path[len(base) + len("/runs/") :].split("/", 1)[0]
        newest, size = folders.get(run_id, (0.0, 0))
        folders[run_id] = (max(newest, (info.mtime_ns or 0) / 1e9), size + (info.size or 0))
    return folders


def _checkpoint_archives(store: ArtifactStore) -> dict[str, tuple[float, int]]:
    """A remote root's checkpoint folders (each an archive, perhaps an upload cut short): the
    newest modification time in each (seconds) and its bytes.

    A local root's checkpoint folders are not listed: a training on this machine may be writing
    to one, with its files open, whatever their age; a remote archive is only a copy.
    """
    if store.is_local:
        return {}
    filesystem, base = store.filesystem, store.root_path
    folder = paths.remote_checkpoint_folder(base)
    selector = pafs.FileSelector(folder, recursive=True, allow_not_found=True)
    archives: dict[str, tuple[float, int]] = {}
    for info in filesystem.get_file_info(selector):
        name, _, inside = info.path[len(folder) + 1 :].partition("/")
        if info.type != pafs.FileType.File or not inside:
            continue  # A folder, or a file beside the checkpoint folders: none of ours.
        newest, size = archives.get(name, (0.0, 0))
        archives[name] = (max(newest, (info.mtime_ns or 0) / 1e9), size + (info.size or 0))
    return archives


def _stale_cache_records(store: ArtifactStore, result_storage: Path, going: set[str]) -> list[Item]:
    """Records of this artifact root's stages whose artifacts are missing or about to go."""
    from rnn_retrain.orchestration.caching import artifact_refs
    from rnn_retrain.orchestration.serializer import UnsafeRecordError, decode_record

    stale = []
    root = store.uri_for(store.root_path).rstrip("/")
    for path in sorted(result_storage.glob("retrain-*")) if result_storage.is_dir() else []:
        stage = path.name.split("-")[1]
        try:
            refs = artifact_refs(decode_record(path.read_bytes()))
        except (UnsafeRecordError, ValueError, OSError):
            continue  # Not ours to judge: the stage cache refuses and replaces such records.
        ours = [ref for ref in refs if ref.uri.startswith(root)]
        if not ours:
            continue  # Another artifact root's record.
        gone = [ref for ref in ours if _run_of(ref.uri, root) in going or store.check(ref)]
        if gone:
            with_folder = " (with its run folder)" if _run_of(gone[0].uri, root) in going else ""
            reason = f"its artifact {gone[0].uri} is gone{with_folder}"
            stale.append(Item("cache record", f"{stage}/{path.name}", path.stat().st_size, reason))
    return stale


def _run_of(uri: str, root: str) -> str | None:
    relative = uri[len(root) :].lstrip("/")
    parts = relative.split("/")
    return parts[1] if len(parts) > 1 and parts[0] == "runs" else None


def result_storage_path() -> Path:
    """Where Prefect keeps the stage cache's result records on this machine."""
    from prefect.settings import get_current_settings

    return Path(get_current_settings().results.local_storage_path).expanduser()


def run_collection(settings: GcSettings) -> Plan:
    """Plan, and unless ``dry_run`` remove, with the stores the settings name."""
    store = ArtifactStore(settings.artifact_root)
    registry = ModelRegistry(settings.tracking_uri, settings.model_name)
    storage = result_storage_path()
    plan = plan_collection(
        store, registry, storage, settings.older_than_days, settings.versions_older_than_days
    )
    if not settings.dry_run:
        collect(plan, store, registry, storage)
    return plan


def render_plan(plan: Plan, dry_run: bool) -> str:
    """The plan as markdown: what goes (or would), what stays, and why."""
    verb = "Would remove" if dry_run else "Removed"
    lines = [f"# Housekeeping\n\n{verb} {len(plan.remove)} items, {plan.bytes:,} bytes.\n"]
    for title, items in ((verb, plan.remove), ("Kept", plan.keep)):
        lines += [f"\n## {title}\n", "| kind | what | bytes | why |", "| --- | --- | --- | --- |"]
        lines += [f"| {i.kind} | {i.name} | {i.bytes:,} | {i.reason} |" for i in items]
    return "\n".join(lines) + "\n"
