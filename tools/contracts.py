"""Write (or, with --check, verify) the committed contract artifacts.

A tool, not part of the contracts package: the AsyncAPI documents describe the services as the
chassis defines them, so the generator depends on both, and lives where that may point.

    contracts/schemas/<event type>.json   JSON Schema of each event, envelope included
    contracts/asyncapi/<service>.yaml     AsyncAPI 3.0 document of each service
    contracts/openapi/<service>.json      OpenAPI document of each service's HTTP API

`--check` fails when an artifact is stale or a model change breaks the committed schema;
writing refuses a breaking change unless --allow-breaking is given (then bump the version).
`--samples FILE` writes one sample record of every event type in both CloudEvents modes (key,
headers, value), for `tools/asyncapi/check.mjs` to validate against the documents.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml
from eps_chassis.asyncapi import build_asyncapi
from eps_chassis.service import installed_services, service_app
from eps_contracts.examples import sample_records
from eps_contracts.schemas import all_event_schemas, check_against_committed

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "contracts" / "schemas"
ASYNCAPI = REPO / "contracts" / "asyncapi"
OPENAPI = REPO / "contracts" / "openapi"


def expected_files() -> dict[Path, str]:
    files = {SCHEMAS / name: text for name, text in all_event_schemas().items()}
    for definition in installed_services():
        document = yaml.safe_dump(build_asyncapi(definition), sort_keys=False, width=100)
        files[ASYNCAPI / f"{definition.name}.yaml"] = document
        openapi = service_app(definition).openapi()
        files[OPENAPI / f"{definition.name}.json"] = json.dumps(openapi, indent=2) + "\n"
    return files


def stale_files() -> list[str]:
    expected = expected_files()
    problems = [
        f"{p.relative_to(REPO)} is stale"
        for p, text in expected.items()
        if not p.exists() or p.read_text() != text
    ]
    for directory, pattern in ((SCHEMAS, "*.json"), (ASYNCAPI, "*.yaml"), (OPENAPI, "*.json")):
        for path in directory.glob(pattern):
            if path not in expected:
                problems.append(f"{path.relative_to(REPO)} has no model any more")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--allow-breaking", action="store_true")
    parser.add_argument("--samples", type=Path, metavar="FILE")
    args = parser.parse_args()
    if args.samples:
        args.samples.write_text(json.dumps(sample_records(), indent=1))
        return 0
    breaking = check_against_committed(SCHEMAS)
    if args.check:
        problems = breaking + stale_files()
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    if breaking and not args.allow_breaking:
        print("refusing to write breaking changes:", *breaking, sep="\n  ", file=sys.stderr)
        return 1
    SCHEMAS.mkdir(exist_ok=True)
    ASYNCAPI.mkdir(exist_ok=True)
    OPENAPI.mkdir(exist_ok=True)
    for path, text in expected_files().items():
        path.write_text(text)
    print(f"wrote {len(expected_files())} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
