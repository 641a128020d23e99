"""The integrator's guide (``docs/integrating.md``) read as the tests use it: its labelled
examples, its console-producer commands (run as written, against the test's broker and topics)
and its table of dead-letter reasons."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "integrating.md"

_EXAMPLE = re.compile(
    r"<!-- example: (?P<label>[^>]+?) -->\n```(?P<lang>\w+)\n(?P<body>.*?)\n```", re.S
)
_REASONS_TABLE = (
    "<!-- dead-letter reasons: checked by tests/integration/test_integrating_guide.py -->"
)


def examples(text: str | None = None) -> dict[str, str]:
    """Every labelled example (``<!-- example: LABEL -->`` then a fenced block), by label."""
    found: dict[str, str] = {}
    for match in _EXAMPLE.finditer(text if text is not None else GUIDE.read_text()):
        label = match["label"]
        assert label not in found, f"two examples labelled {label!r}"
        found[label] = match["body"]
    return found


@dataclass(frozen=True)
class Record:
    """One line of a console-producer command's input: headers|key|value."""

    headers: dict[str, str]
    key: str
    value: Any

    def line(self, command: ProducerCommand) -> str:
        """The record as a line of ``command``'s input (its delimiters)."""
        props = command.properties()
        headers = ",".join(f"{name}:{value}" for name, value in self.headers.items())
        value = json.dumps(self.value, separators=(",", ":"))
        return f"{headers}{props['headers.delimiter']}{self.key}{props['key.separator']}{value}"

    def as_sample(self) -> dict[str, Any]:
        """The record as ``tools/asyncapi/check.mjs`` reads a sample's mode."""
        return {"key": self.key, "headers": self.headers, "value": self.value}


@dataclass(frozen=True)
class ProducerCommand:
    """A console-producer command of the guide: its arguments and its input lines."""

    argv: list[str]
    lines: list[str]

    def option(self, name: str) -> str:
        return self.argv[self.argv.index(name) + 1]

    @property
    def topic(self) -> str:
        return self.option("--topic")

    def properties(self) -> dict[str, str]:
        pairs = [self.argv[i + 1] for i, a in enumerate(self.argv) if a == "--property"]
        return dict(p.split("=", 1) for p in pairs)

    def records(self) -> list[Record]:
        """Each input line read as the console producer reads it (first delimiter first)."""
        props = self.properties()
        assert props.get("parse.key") == "true" and props.get("parse.headers") == "true"
        headers_delimiter, key_separator = props["headers.delimiter"], props["key.separator"]
        out = []
        for line in self.lines:
            headers_text, rest = line.split(headers_delimiter, 1)
            key, value = rest.split(key_separator, 1)
            headers = dict(h.split(":", 1) for h in headers_text.split(","))
            out.append(Record(headers, key, json.loads(value)))
        return out


def producer_command(block: str) -> ProducerCommand:
    """A ``bash`` block: the command (``\\``-continued lines) with a quoted here-document."""
    command, _, rest = block.partition(" <<'EOF'\n")
    body, _, after = rest.rpartition("\nEOF")
    assert not after.strip(), "nothing follows the here-document"
    argv = shlex.split(command.replace("\\\n", " "))
    return ProducerCommand(argv, body.split("\n"))


def reasons_table(text: str | None = None) -> list[tuple[str, str, str]]:
    """The guide's dead-letter reasons: (kind, the event, the reason) per row."""
    text = text if text is not None else GUIDE.read_text()
    table = text.split(_REASONS_TABLE, 1)[1].strip().split("\n\n", 1)[0]
    rows = []
    for line in table.splitlines()[2:]:
        kind, event, reason = (cell.strip() for cell in line.strip("|").split(" | "))
        rows.append((kind, event, reason.strip("`")))
    return rows


async def run_producer_command(
    command: ProducerCommand, producer: list[str], bootstrap: str, topic: str, lines: list[str]
) -> None:
    """Run the guide's command as written, but Kafka's console producer as ``producer`` (the
    jars the project resolves), and at ``bootstrap`` and ``topic`` (the test's)."""
    argv = list(command.argv)
    assert argv[0] == "kafka-console-producer.sh", argv[0]
    argv[argv.index("--bootstrap-server") + 1] = bootstrap
    argv[argv.index("--topic") + 1] = topic
    process = await asyncio.create_subprocess_exec(
        *producer,
        *argv[1:],
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(120):
        output, _ = await process.communicate("".join(f"{line}\n" for line in lines).encode())
    printed = output.decode(errors="replace")
    assert process.returncode == 0, f"console producer exited {process.returncode}:\n{printed}"


def outcome_paths(text: str | None = None) -> dict[str, str]:
    """Where the guide says each service answers what became of a request: service -> path."""
    text = text if text is not None else GUIDE.read_text()
    return dict(re.findall(r"`GET http://<(\w+)>(/[^`]+)`", text))


def shape(value: Any) -> Any:
    """A JSON value's structure: the keys of every object, the shape of every list's items."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__
