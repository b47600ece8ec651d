"""The configuration reference (docs/configuration.md), generated from the configuration models.

Run ``python -m rnn_retrain.interface.config_reference`` after changing `rnn_retrain.config.retrain`; a test fails
while the checked-in file differs from what this renders, so the reference cannot drift.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from rnn_retrain.config.retrain import RECIPES, RetrainConfig, SweepConfig

REFERENCE = Path(__file__).parents[1] / "docs" / "configuration.md"

INTRO = """\
# Configuration reference

Generated from `rnn_retrain/config/sections.py` by `python -m rnn_retrain.interface.config_reference`; do not edit by
hand (`tests/test_docs.py` fails when this file and the code differ).

One frozen, typed model, `RetrainConfig`, is at once the `retrain run` flags, the parameter of
the `retrain` flow and the run form in the Prefect UI. It is grouped into sections, drawn as
titled sections of the form in this order. A flag keeps the field's name (`--cell`, `--maxlen`),
whatever its section. Through the REST API or in `prefect.yaml`, the parameter is sent in
sections:

```json
{"config": {"source": {"data": "imdb"}, "model": {"cell": "gru"}, "training": {"epochs": 5}}}
```

A field outside its section (`{"config": {"cell": "gru"}}`) is refused, naming it.
`retrain sweep` takes the same sections plus a `sweep` section.
"""


def _default(field: Any) -> str:
    value = field.default
    return f"`{value!r}`"


def section_table(name: str, model: type[BaseModel], title: str, description: str) -> list[str]:
    """One section: its title, what it is for, and a row per field."""
    lines = [f"## {title} (`{name}`)", "", description, ""]
    lines += ["| flag | field | default | description |", "| --- | --- | --- | --- |"]
    for field_name, field in model.model_fields.items():
        flag = "--" + field_name.replace("_", "-")
        text = (field.description or "").replace("|", "\\|")
        lines.append(f"| `{flag}` | `{name}.{field_name}` | {_default(field)} | {text} |")
    return lines + [""]


def recipe_table() -> list[str]:
    """The presets `--recipe` chooses: each field a preset changes, beside the tutorial's."""
    lines = [
        "## Recipes",
        "",
        "`--recipe tutorial` (the default) is the Keras IMDB tutorial's recipe, the defaults below. "
        "`--recipe strong` (the recurrent network alone) and `--recipe hybrid` (the strong network "
        "beside an n-gram branch, wide and deep) put in the values of this table for every field "
        "still at its tutorial default; a field given any other value keeps it "
        "(`--recipe strong --vocab-size 30000`). "
        "The measurements behind the preset are in "
        "[the benchmark results](../benchmarks/RESULTS.md#recipes-on-imdb).",
        "",
        "| field | tutorial | " + " | ".join(RECIPES) + " |",
        "| --- | --- |" + " --- |" * len(RECIPES),
    ]
    changed = {
        (section, name)
        for recipe in RECIPES.values()
        for section in recipe
        for name in recipe[section]
    }
    for section, fields in RetrainConfig.model_fields.items():
        settings = fields.annotation.model_fields  # type: ignore[union-attr]
        for name, field in settings.items():
            if (section, name) not in changed:
                continue
            presets = [
                recipe.get(section, {}).get(name, field.default) for recipe in RECIPES.values()
            ]
            cells = " | ".join(f"`{value!r}`" for value in presets)
            lines.append(f"| `{section}.{name}` | {_default(field)} | {cells} |")
    return lines + [""]


def render_reference() -> str:
    """The whole reference, as markdown."""
    lines = [INTRO, *recipe_table()]
    for config in (RetrainConfig, SweepConfig):
        for name, field in config.model_fields.items():
            if config is SweepConfig and name in RetrainConfig.model_fields:
                continue
            model = field.annotation
            title = field.title or model.model_config.get("title") or name
            lines += section_table(name, model, title, (model.__doc__ or "").strip())
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    """Write docs/configuration.md."""
    REFERENCE.write_text(render_reference())
    print(f"wrote {REFERENCE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
