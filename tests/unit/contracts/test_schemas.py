"""The committed contract artifacts are fresh, and no change breaks a consumer of them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from eps_contracts.schemas import breaking_changes
from pydantic import BaseModel, Field

REPO = Path(__file__).resolve().parents[3]
SCHEMAS = REPO / "contracts" / "schemas"


def test_committed_artifacts_are_fresh_and_compatible() -> None:
    result = subprocess.run(
        [sys.executable, "tools/contracts.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"run `make contracts`:\n{result.stderr}"


def _historical_versions(path: Path) -> list[str]:
    """Every committed version of a schema file, oldest first (empty outside a git checkout)."""
    log = subprocess.run(
        ["git", "log", "--format=%H", "--", str(path.relative_to(REPO))],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    texts = []
    for commit in reversed(log.stdout.split()):
        shown = subprocess.run(
            ["git", "show", f"{commit}:{path.relative_to(REPO)}"],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        if shown.returncode == 0:
            texts.append(shown.stdout)
    return texts


@pytest.mark.parametrize("path", sorted(SCHEMAS.glob("*.json")), ids=lambda p: p.stem)
def test_no_published_version_of_a_schema_is_broken(path: Path) -> None:
    current = json.loads(path.read_text())
    for old in _historical_versions(path):
        assert breaking_changes(json.loads(old), current) == []


class Child(BaseModel):
    name: str
    born: str = Field(json_schema_extra={"format": "date"})


class V1(BaseModel):
    id: str
    note: str | None = None
    child: Child
    tags: list[str] = []


def _schema(model: type[BaseModel]) -> dict[str, object]:
    return model.model_json_schema()


def test_adding_an_optional_field_is_compatible() -> None:
    class V2(V1):
        extra: int | None = None

    assert breaking_changes(_schema(V1), _schema(V2)) == []


def test_removing_a_field_is_breaking() -> None:
    class V2(BaseModel):
        id: str
        child: Child
        tags: list[str] = []

    assert breaking_changes(_schema(V1), _schema(V2)) == ["note: removed"]


def test_retyping_a_field_is_breaking() -> None:
    class V2(BaseModel):
        id: int
        note: str | None = None
        child: Child
        tags: list[int] = []

    problems = breaking_changes(_schema(V1), _schema(V2))
    assert problems == [
        "id: type string changed to integer",
        "tags[]: type string changed to integer",
    ]


def test_making_an_optional_field_required_is_breaking() -> None:
    class V2(BaseModel):
        id: str
        note: str | None
        child: Child
        tags: list[str] = []

    assert breaking_changes(_schema(V1), _schema(V2)) == ["note: became required"]


def test_dropping_null_from_a_field_is_breaking() -> None:
    class V2(BaseModel):
        id: str
        note: str = ""
        child: Child
        tags: list[str] = []

    assert breaking_changes(_schema(V1), _schema(V2)) == ["note: type null changed to string"]


def test_changes_inside_nested_models_are_found() -> None:
    class Child2(BaseModel):
        name: str

    class V2(BaseModel):
        id: str
        note: str | None = None
        child: Child2
        tags: list[str] = []

    assert breaking_changes(_schema(V1), _schema(V2)) == ["child.born: removed"]


def test_changing_the_id_of_a_published_schema_is_breaking() -> None:
    old = {"$id": "https://eps-platform.example.org/contracts/schemas/a.v1.json", **_schema(V1)}
    moved = {**old, "$id": "https://elsewhere.example.org/a.v1.json"}

    assert breaking_changes(old, old) == []
    assert breaking_changes(old, moved) == [
        "$id changed from https://eps-platform.example.org/contracts/schemas/a.v1.json"
        " (integrators refer to it)"
    ]
