"""The integrator's guide cannot drift from the contracts: its generated parts are what the
contracts write now, it has a worked example of every event type of every upstream topic in
both CloudEvents modes, and every one of them is valid against its AsyncAPI message and its
JSON Schema by the third-party validators of the contract tests (`tools/asyncapi/check.mjs`)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cogapp import Cog
from eps_chassis.http import Problem
from eps_contracts import Event, all_topics
from eps_contracts.examples import sample_records
from eps_referrals.views import ReferralRequestOutcome
from pydantic import BaseModel

from tests.support.guide import GUIDE, REPO, examples, producer_command

MODES = ("structured", "binary")
CHECK = REPO / "tools" / "asyncapi" / "check.mjs"
DOCUMENTS = sorted((REPO / "contracts" / "asyncapi").glob("*.yaml"))
UPSTREAM = {
    cls.event_type: cls
    for cls in Event.registry.values()
    if cls.topic.name.startswith("eps.upstream.")
}


def test_the_guide_is_what_the_contracts_write_now() -> None:
    status = Cog().main(["cog", "--check", "-I", str(REPO), str(GUIDE)])

    assert status == 0, "docs/integrating.md is stale: run `make contracts`"


def test_every_upstream_topic_and_event_type_has_its_worked_example_in_both_modes() -> None:
    shown = examples()
    upstream_topics = {t.name for t in all_topics() if t.name.startswith("eps.upstream.")}

    assert upstream_topics == {cls.topic.name for cls in UPSTREAM.values()}
    for event_type, event_cls in UPSTREAM.items():
        for mode in MODES:
            label = f"{event_type} {mode}"
            command = producer_command(shown[f"{label} command"])
            [record] = command.records()
            assert command.topic == event_cls.topic.name
            # what the guide shows is what its command publishes
            assert json.loads(shown[f"{label} value"]) == record.value
            headers = shown[f"{label} headers"].splitlines()
            assert dict(line.split(": ", 1) for line in headers) == record.headers
            # the key is the subject, which is data.<key field>
            envelope = record.value if mode == "structured" else None
            data = envelope["data"] if envelope else record.value
            subject = envelope["subject"] if envelope else record.headers["ce_subject"]
            assert record.key == subject == str(data[event_cls.key_field])
            event_type_shown = envelope["type"] if envelope else record.headers["ce_type"]
            assert event_type_shown == event_type


def published_event_types() -> set[str]:
    return {
        message["name"]
        for document in DOCUMENTS
        for message in yaml.safe_load(document.read_text())["components"]["messages"].values()
    }


# The HTTP answers the guide shows (the integration test reads the same from the services).
RESPONSES: dict[str, type[BaseModel]] = {
    "waiting response": ReferralRequestOutcome,
    "applied response": ReferralRequestOutcome,
    "404 response": Problem,
}


def test_every_json_block_of_the_guide_is_an_example_its_contract_reads_whole() -> None:
    text = GUIDE.read_text()
    shown = examples()
    labelled_json = [label for label in shown if f"<!-- example: {label} -->\n```json\n" in text]

    assert text.count("```json\n") == len(labelled_json), "every JSON block is a labelled example"
    for label in labelled_json:
        if label.endswith(" value"):  # an event: see the AsyncAPI and JSON Schema check below
            assert label.split()[0] in UPSTREAM, label
            continue
        example = json.loads(shown[label])
        read = RESPONSES[label].model_validate(example)
        assert read.model_dump(mode="json") == example, f"{label}: no field more, none less"


def guide_samples(text: str | None = None) -> list[dict[str, Any]]:
    """The contracts' samples of every event type the documents publish, those of the upstream
    types taken from the guide's commands instead (what an integrator would publish)."""
    shown = examples(text)
    samples = []
    published = published_event_types()
    for sample in sample_records():
        if sample["event_type"] not in published:
            continue
        if sample["event_type"] in UPSTREAM:
            for mode in MODES:
                command = producer_command(shown[f"{sample['event_type']} {mode} command"])
                [record] = command.records()
                sample[mode] = record.as_sample()
        samples.append(sample)
    return samples


def check(tmp_path: Path, samples: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    if not (CHECK.parent / "node_modules").is_dir():
        pytest.fail("the AsyncAPI tools are not installed: run `make asyncapi-tools`")
    sample_file = tmp_path / "samples.json"
    sample_file.write_text(json.dumps(samples))
    return subprocess.run(
        [
            *("node", str(CHECK), "--schemas", str(REPO / "contracts" / "schemas")),
            *("--samples", str(sample_file), *map(str, DOCUMENTS)),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_every_example_of_the_guide_is_valid_against_its_asyncapi_message_and_json_schema(
    tmp_path: Path,
) -> None:
    samples = guide_samples()
    result = check(tmp_path, samples)

    assert result.returncode == 0, result.stdout + result.stderr
    assert UPSTREAM.keys() <= {s["event_type"] for s in samples}
    every = f"{len(samples)}/{len(samples)} event types valid"
    assert result.stdout.count(every) == len(MODES), result.stdout


def test_an_example_that_breaks_its_contract_fails_the_check(tmp_path: Path) -> None:
    text = GUIDE.read_text().replace('"la_case_ref":"SEN-2026-0457"', '"la_case_ref":7')

    result = check(tmp_path, guide_samples(text))

    assert result.returncode == 1
    assert "eps.upstream.psychological-advice-requested.v1 (structured mode)" in result.stderr
    assert "eps.upstream.psychological-advice-requested.v1 (binary mode)" in result.stderr
