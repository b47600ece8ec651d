"""The house: layers import downward, tasks stay apart, stage logic stays free of Prefect and MLflow.

Layers, bottom to top: the core library (`rnn_retrain`) ← `rnn_retrain.tasks` ← `rnn_retrain.flows`
← the interface (`rnn_retrain.interface`, `rnn_retrain.deployments`). The last four live in the
repository's top folders (`tasks/`, `flows/`, …), mapped into the one installed namespace by
pyproject.toml. Every import statement in the project, at module level or inside a function, is
read with `ast`; none may point to a higher layer, and none may go through a string.
"""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
# Each layer's package and the folder that holds it.
LAYERS = {"rnn_retrain": 0, "rnn_retrain.tasks": 1, "rnn_retrain.flows": 2}
LAYERS |= {"rnn_retrain.interface": 3, "rnn_retrain.deployments": 3}
FOLDERS = {package: ROOT / package.rsplit(".", 1)[-1] for package in LAYERS}
# The folders' own names, which no import may use: they are not installed.
BARE_NAMES = {"tasks", "flows", "interface", "deployments"}
STAGES = (
    "ingest",
    "tokenize",
    "validate",
    "pad",
    "train",
    "evaluate",
    "register",
    "select",
    "score",
    "baseline",
)


def project_modules() -> dict[str, Path]:
    """Every module of the project's packages, by dotted name."""
    modules = {}
    for package, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            name = ".".join((package, *(parts[:-1] if parts[-1] == "__init__" else parts)))
            modules[name] = path
    return modules


@functools.cache  # Several checks read every file: parse each once per session.
def imported_modules(path: Path) -> tuple[tuple[int, str], ...]:
    """(line, module) of every import in a file, function-level imports included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return tuple(found)


def layer_of(module: str) -> int | None:
    """The layer of the longest package in `LAYERS` that holds ``module``."""
    parts = module.split(".")
    for length in (2, 1):
        layer = LAYERS.get(".".join(parts[:length]))
        if layer is not None:
            return layer
    return None


def test_no_module_imports_a_folder_by_its_bare_name():
    # `import tasks` works from the repository's root but not from an installed wheel, and it
    # would load a second copy of each module beside the `rnn_retrain.tasks` one.
    bare = [
        f"{path.relative_to(ROOT)}:{line} {target}"
        for path in [
            *project_modules().values(),
            *ROOT.glob("tests/**/*.py"),
            *ROOT.glob("benchmarks/*.py"),
        ]
        for line, target in imported_modules(path)
        if target.split(".", 1)[0] in BARE_NAMES
    ]
    assert bare == []


def test_the_walk_finds_every_layer():
    modules = project_modules()
    assert {layer_of(name) for name in modules} == {0, 1, 2, 3}
    assert "rnn_retrain.interface.cli" in modules and "rnn_retrain.stages.register" in modules


def test_no_module_imports_a_higher_layer():
    upward = []
    for name, path in project_modules().items():
        for line, target in imported_modules(path):
            target_layer = layer_of(target)
            if target_layer is not None and target_layer > layer_of(name):
                upward.append(f"{path.relative_to(ROOT)}:{line} {name} → {target}")
    assert upward == []


def test_no_import_goes_through_a_string():
    strings = []
    for name, path in project_modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                called = ast.unparse(node.func)
                if called.endswith(("import_module", "__import__")):
                    strings.append(f"{path.relative_to(ROOT)}:{node.lineno} {called}")
    assert strings == []


def test_no_task_module_imports_another():
    crossings = []
    for name, path in project_modules().items():
        if name.startswith("rnn_retrain.tasks."):
            for line, target in imported_modules(path):
                if target.startswith("rnn_retrain.tasks") and target != name:
                    crossings.append(f"{path.relative_to(ROOT)}:{line} {name} → {target}")
    assert crossings == []


def test_every_stage_has_its_logic_in_the_core_and_a_task_module():
    for stage in STAGES:
        assert (ROOT / "rnn_retrain" / "stages" / f"{stage}.py").is_file()
        assert (ROOT / "tasks" / f"{stage}.py").is_file()


def test_stage_logic_loads_without_prefect_mlflow_or_tensorflow():
    # One fresh interpreter imports the stages one by one: a heavy library that shows up after a
    # stage's import (and was absent before it) is that stage's doing.
    probe = (
        "import importlib, json, sys\n"
        "heavy = ('prefect', 'mlflow', 'tensorflow', 'keras')\n"
        "found = {}\n"
        f"for stage in {list(STAGES)!r}:\n"
        "    importlib.import_module(f'rnn_retrain.stages.{stage}')\n"
        "    found[stage] = sorted(n for n in heavy if n in sys.modules)\n"
        "    if found[stage]: break\n"
        "print(json.dumps(found))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    found = json.loads(loaded.stdout)
    assert found == {stage: [] for stage in STAGES}, found


# Inside the core: each part of `rnn_retrain` and the parts it may import. Read bottom to top;
# `orchestration` (the Prefect side) sits on top of the core and may import all of it.
CORE_PARTS = {
    "errors": set(),
    "environment": {"errors", "config"},  # config.secrets: no password in what it reports.
    "store": {"errors", "environment"},
    "config": {"errors"},
    "data": {"errors", "store"},
    "model": {"errors", "store", "config", "data"},
    "registry": {"errors", "environment", "store", "config", "data", "model", "results", "stages"},
    "results": {"errors", "store", "config", "data"},
    "stages": {"errors", "store", "config", "data", "model", "results"},
    "reports": {"errors", "config", "data", "results", "stages"},
}
# The top of the core.
CORE_PARTS["orchestration"] = set(CORE_PARTS)


def core_part(module: str) -> str | None:
    """The part of the core a dotted name belongs to (``rnn_retrain.store.paths`` → ``store``)."""
    parts = module.split(".")
    if parts[0] != "rnn_retrain" or len(parts) < 2 or layer_of(module) != 0:
        return None
    return parts[1]


def test_the_core_holds_only_its_named_parts():
    entries = {
        path.stem
        for path in (ROOT / "rnn_retrain").iterdir()
        if path.name != "__init__.py" and (path.suffix == ".py" or (path / "__init__.py").is_file())
    }
    assert entries == set(CORE_PARTS)
    for part in CORE_PARTS:
        package = ROOT / "rnn_retrain" / part / "__init__.py"
        if package.is_file():
            assert ast.get_docstring(ast.parse(package.read_text())), f"{package} has no docstring"


def test_each_part_of_the_core_imports_only_the_parts_below_it():
    crossings = []
    for name, path in project_modules().items():
        source = core_part(name)
        if source is None:
            continue
        for line, target in imported_modules(path):
            part = core_part(target)
            if part is not None and part != source and part not in CORE_PARTS[source]:
                crossings.append(f"{path.relative_to(ROOT)}:{line} {source} → {part}")
    assert crossings == []


def test_no_two_modules_import_each_other():
    modules = project_modules()
    graph = {
        name: {target for _, target in imported_modules(path) if target in modules}
        for name, path in modules.items()
    }
    circles = sorted(
        f"{a} ↔ {b}" for a, targets in graph.items() for b in targets if a < b and a in graph[b]
    )
    assert circles == []


# A function a reader holds on one screen; a longer one says why in a comment that starts with
# this, inside it or on the line above it.
SCREEN_LINES = 60
LONG_REASON = "# Longer than a screen:"


def test_every_function_fits_on_a_screen_or_says_why_not():
    long = []
    for name, path in project_modules().items():
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                around = lines[max(node.lineno - 2, 0) : node.end_lineno]
                if length > SCREEN_LINES and not any(LONG_REASON in line for line in around):
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length})")
    assert long == []
