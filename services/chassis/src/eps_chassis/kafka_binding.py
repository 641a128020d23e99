"""The CloudEvents Kafka protocol binding (1.0): the envelope a record carries, in either mode.

- *structured*: ``content-type: application/cloudevents+json`` and the value is the whole
  envelope as JSON (what the services publish);
- *binary* (the CloudEvents SDKs' default): the value is the event's ``data`` alone, each
  attribute is a header ``ce_<name>`` holding its text (``ce_id``, ``ce_source``, ``ce_type``,
  ``ce_specversion``, ``ce_time``, ``ce_subject``, the extensions ``ce_tenant``,
  ``ce_correlationid``, ``ce_causationid``, ``ce_actor``) and ``content-type`` is the data's
  media type (``datacontenttype``).

The binding tells them apart by ``content-type``: a CloudEvents format is structured mode,
anything else is binary. A record with neither a ``content-type`` nor a ``ce_`` header is read
as structured, as producers that set no headers always were.

Either way the result is the envelope as JSON, so one model validates both modes alike. Not
the ``cloudevents`` SDK's Kafka binding: it fills in a missing ``id``, ``time`` and
``specversion`` (an event without them would pass), reads ``time`` with a lenient ISO parser,
and takes any ``ce_`` header for binary mode whatever the ``content-type`` says.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic_core import from_json, to_json

STRUCTURED_FORMAT = "application/cloudevents+json"
CLOUDEVENTS_FORMATS = "application/cloudevents"  # every structured format's media type prefix
HEADER_PREFIX = "ce_"
CONTENT_TYPE = "content-type"
DATA_MEDIA_TYPE = "application/json"  # the only data the contracts define


@dataclass(frozen=True, slots=True)
class Carried:
    """What a record carries: the envelope as JSON, its ``type`` if it has one, and how each
    envelope attribute was written on the record (to name it in a reason)."""

    envelope: bytes
    event_type: object
    binary: bool
    # ``event_type`` read from the text by a pattern, not yet from the parsed JSON: confirmed by
    # the envelope validated with it, else read again by ``parsed`` (``decoding``)
    guessed: bool = False

    def name_of(self, attribute: str) -> str:
        """Where the producer wrote ``attribute``: a header in binary mode, a field else."""
        if not self.binary or attribute == "data":
            return attribute
        return CONTENT_TYPE if attribute == "datacontenttype" else HEADER_PREFIX + attribute


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A record that carries no envelope at all, and why."""

    reason: str


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def carried(
    value: bytes | None, headers: Sequence[tuple[str, bytes]] | None
) -> Carried | Unreadable:
    """The envelope ``value`` and ``headers`` carry, as JSON (not yet validated)."""
    if not value:
        return Unreadable("empty record value")
    content_type: str | None = None
    attributes: dict[str, str] = {}
    for name, raw in headers or ():
        lowered = name.lower()
        if lowered != CONTENT_TYPE and not lowered.startswith(HEADER_PREFIX):
            continue
        try:
            text = raw.decode("utf-8") if raw is not None else ""
        except UnicodeDecodeError:
            return Unreadable(f"{lowered}: header value is not UTF-8")
        if lowered == CONTENT_TYPE:
            if content_type is not None and content_type != text:
                return Unreadable(f"{CONTENT_TYPE}: header given twice, differently")
            content_type = text
            continue
        attribute = lowered[len(HEADER_PREFIX) :]
        if attribute in attributes and attributes[attribute] != text:
            return Unreadable(f"{lowered}: header given twice, differently")
        attributes[attribute] = text
    if content_type is not None and _media_type(content_type).startswith(CLOUDEVENTS_FORMATS):
        if _media_type(content_type) != STRUCTURED_FORMAT:
            return Unreadable(
                f"{CONTENT_TYPE}: {content_type!r} is not a format this platform reads"
                f" (structured mode is {STRUCTURED_FORMAT}, one event per record)"
            )
        return _structured(value)
    if not attributes and content_type is None:
        return _structured(value)
    return _binary(value, attributes, content_type)


# An envelope whose top-level fields before ``type`` are all plain strings (as every service
# writes it: specversion, id, source, type, ...): ``type`` is then certainly top-level.
_LEADING_TYPE = re.compile(
    rb'\A\s*\{\s*(?:"[a-z]+"\s*:\s*"[^"\\]*"\s*,\s*){0,8}?"type"\s*:\s*"([^"\\]+)"'
)


def _structured(value: bytes) -> Carried | Unreadable:
    """The envelope with its type read by a pattern when it stands among the first fields (the
    JSON is then parsed once, when it is validated, instead of twice), else parsed."""
    leading = _LEADING_TYPE.match(value)
    if leading is not None:
        return Carried(value, leading[1].decode(), binary=False, guessed=True)
    return parsed(value)


def parsed(value: bytes) -> Carried | Unreadable:
    """The structured envelope, its type read from the parsed JSON."""
    try:
        head = from_json(value)
    except ValueError as exc:
        return Unreadable(f"not JSON: {exc}")
    event_type = head.get("type") if isinstance(head, dict) else None
    return Carried(value, event_type, binary=False)


def _binary(
    value: bytes, attributes: dict[str, str], content_type: str | None
) -> Carried | Unreadable:
    if "data" in attributes or "data_base64" in attributes:
        return Unreadable("ce_data: the data is the record value in binary mode, not a header")
    try:
        data = from_json(value)
    except ValueError as exc:
        return Unreadable(f"data: the record value is not JSON: {exc}")
    envelope: dict[str, object] = dict(attributes)
    if content_type is not None:
        # the media type decides; a parameter such as charset=utf-8 says nothing more to JSON
        media_type = _media_type(content_type)
        envelope["datacontenttype"] = (
            DATA_MEDIA_TYPE if media_type == DATA_MEDIA_TYPE else content_type
        )
    envelope["data"] = data
    return Carried(to_json(envelope), attributes.get("type"), binary=True)
