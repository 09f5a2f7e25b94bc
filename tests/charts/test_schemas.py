"""Both charts' values.schema.json are strict at every level and describe every field: what lets helm refuse a
misspelled key anywhere, and what a deployment form is generated from (a title or description per field)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.helm import APP_CHART, WISHSTAR_CHART

CHARTS = (APP_CHART, WISHSTAR_CHART)


def _objects(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node that declares properties, with its path."""
    if isinstance(node, dict):
        if "properties" in node:
            yield path or "/", node
        for key, value in node.items():
            yield from _objects(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _objects(value, f"{path}/{i}")


def _schema(chart: Path) -> dict[str, Any]:
    return json.loads((chart / "values.schema.json").read_text())


@pytest.mark.parametrize("chart", CHARTS, ids=lambda c: c.name)
def test_every_object_in_the_schema_refuses_unknown_keys(chart: Path) -> None:
    loose = [path for path, node in _objects(_schema(chart)) if node.get("additionalProperties") is not False]
    assert loose == []


@pytest.mark.parametrize("chart", CHARTS, ids=lambda c: c.name)
def test_every_top_level_field_has_a_title_and_every_field_a_title_or_description(chart: Path) -> None:
    schema = _schema(chart)
    untitled = [key for key, prop in schema["properties"].items() if "title" not in prop]
    undescribed = [f"{path}/{key}" for path, node in _objects(schema) for key, prop in node["properties"].items()
                   if not ({"title", "description"} & set(prop))]
    assert (untitled, undescribed) == ([], [])


@pytest.mark.parametrize("chart", CHARTS, ids=lambda c: c.name)
def test_every_default_in_values_yaml_is_a_key_of_the_schema(chart: Path) -> None:
    """values.yaml and the schema list the same top-level keys: nothing undocumented, nothing unreachable."""
    defaults = yaml.safe_load((chart / "values.yaml").read_text())
    assert sorted(defaults) == sorted(_schema(chart)["properties"])
