"""The published OpenAPI documents (`contracts/openapi/<service>.json`, written by
`tools/contracts.py`) are what the services serve, and lint clean with a maintained OpenAPI
linter: Redocly CLI's recommended rules, strict (`tools/openapi/redocly.yaml`)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eps_chassis.service import installed_services, service_app
from eps_incidents.bootstrap import SERVICE as INCIDENTS
from fastapi.openapi.utils import get_openapi

REPO = Path(__file__).resolve().parents[3]
TOOLS = REPO / "tools" / "openapi"
REDOCLY = TOOLS / "node_modules" / ".bin" / "redocly"
DOCUMENTS = sorted((REPO / "contracts" / "openapi").glob("*.json"))
# no telemetry, no update check: the linter's answer depends on the documents alone
QUIET = {"REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true", "CI": "true"}


def lint(documents: list[Path]) -> list[dict[str, Any]]:
    """Redocly's totals and problems for each document, in order."""
    if not REDOCLY.exists():
        pytest.fail("the OpenAPI linter is not installed: run `make openapi-tools`")
    result = subprocess.run(
        [str(REDOCLY), "lint", "--config", str(TOOLS / "redocly.yaml"), "--format=json"]
        + [str(d) for d in documents],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **QUIET},
    )
    reports, text, decoder = [], result.stdout.strip(), json.JSONDecoder()
    while text:  # one JSON report per document, one after the other
        report, end = decoder.raw_decode(text)
        reports.append(report)
        text = text[end:].strip()
    assert len(reports) == len(documents), result.stdout + result.stderr
    totals = [r["totals"] for r in reports]
    assert (result.returncode != 0) == any(t["errors"] for t in totals), result.stderr
    return reports


def _problems(report: dict[str, Any]) -> list[str]:
    return [f"{p['ruleId']}: {p['message']}" for p in report["problems"]]


def test_every_service_publishes_its_document() -> None:
    services = installed_services()
    assert [d.stem for d in DOCUMENTS] == [s.name for s in services]
    for definition, document in zip(services, DOCUMENTS, strict=True):
        assert json.loads(document.read_text()) == service_app(definition).openapi()


def test_every_published_document_is_lint_clean() -> None:
    reports = lint(DOCUMENTS)

    for document, report in zip(DOCUMENTS, reports, strict=True):
        assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}, (
            document.name,
            _problems(report),
        )


def test_fastapis_own_document_is_not(tmp_path: Path) -> None:
    """What the services served before the chassis completed it: the linter finds the 4xx
    answers that are not problem details, and the undeclared tags."""
    app = service_app(INCIDENTS.definition())
    raw = tmp_path / "incidents.json"
    raw.write_text(json.dumps(get_openapi(title="EPS", version="1", routes=app.routes)))

    [report] = lint([raw])

    rules = {p["ruleId"] for p in report["problems"]}
    assert {"operation-4xx-problem-details-rfc7807", "operation-tag-defined"} <= rules
    assert report["totals"]["errors"] > 0


def test_a_lint_problem_fails_the_check(tmp_path: Path) -> None:
    document = json.loads((REPO / "contracts" / "openapi" / "consent.json").read_text())
    operations = [o for path in document["paths"].values() for o in path.values()]
    operations[1]["operationId"] = operations[0]["operationId"]
    broken = tmp_path / "consent.json"
    broken.write_text(json.dumps(document))

    [report] = lint([broken])

    assert report["totals"]["errors"] == 1
    assert report["problems"][0]["ruleId"] == "operation-operationId-unique"


def test_every_answer_names_the_headers_it_carries() -> None:
    for path in DOCUMENTS:
        document = json.loads(path.read_text())
        for operation in (o for p in document["paths"].values() for o in p.values()):
            headers_sent = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
            assert "X-Correlation-Id" in headers_sent
            for status, response in operation["responses"].items():
                headers = response["headers"]
                assert headers["X-Correlation-Id"]["$ref"].endswith("/X-Correlation-Id")
                assert ("WWW-Authenticate" in headers) == (status == "401"), (path.name, status)


def test_a_stale_or_orphaned_document_fails_the_contracts_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("contracts_tool", REPO / "tools" / "contracts.py")
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    shutil.copytree(REPO / "contracts", tmp_path / "contracts")
    for name in ("SCHEMAS", "ASYNCAPI", "OPENAPI"):
        monkeypatch.setattr(tool, name, tmp_path / getattr(tool, name).relative_to(REPO))
    monkeypatch.setattr(tool, "REPO", tmp_path)
    before = set(tool.stale_files())

    consent = tmp_path / "contracts" / "openapi" / "consent.json"
    document = json.loads(consent.read_text())
    document["paths"].popitem()
    consent.write_text(json.dumps(document, indent=2) + "\n")
    (tmp_path / "contracts" / "openapi" / "gone.json").write_text("{}\n")

    assert set(tool.stale_files()) - before == {
        "contracts/openapi/consent.json is stale",
        "contracts/openapi/gone.json has no model any more",
    }
