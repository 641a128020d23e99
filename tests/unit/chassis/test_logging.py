"""One JSON object per line, whoever logs, and a repeated warning written once per interval."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from eps_chassis.log_repeats import RepeatLimiter
from eps_chassis.logging import configure_logging, scoped_context

# --- the limiter, on its own clock -----------------------------------------------------------


class StoppedClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(
    message: str = "Unable connect to node with id %s: %s",
    *args: Any,
    logger: str = "aiokafka",
    level: int = logging.ERROR,
) -> logging.LogRecord:
    args = args or (1, "[Errno 111] Connect call failed ('127.0.0.1', 19092)")
    return logging.LogRecord(logger, level, __file__, 1, message, args, None)


def passed(limiter: RepeatLimiter, records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if limiter.filter(r)]


def test_a_repeated_error_passes_once_per_interval_with_the_count_held_back() -> None:
    clock = StoppedClock()
    limiter = RepeatLimiter(30.0, clock=clock)
    assert len(passed(limiter, [record() for _ in range(500)])) == 1
    clock.now += 29.9
    assert passed(limiter, [record()]) == []
    clock.now += 0.1
    [next_one] = passed(limiter, [record(), record()])
    assert next_one.repeats_suppressed == 500  # type: ignore[attr-defined]
    clock.now += 30
    [after_one_repeat] = passed(limiter, [record()])
    assert after_one_repeat.repeats_suppressed == 1  # type: ignore[attr-defined]
    clock.now += 30
    [alone] = passed(limiter, [record()])
    assert not hasattr(alone, "repeats_suppressed")  # nothing held back since


def test_only_exact_repeats_of_warnings_and_errors_are_held_back() -> None:
    limiter = RepeatLimiter(30.0, clock=StoppedClock())
    first = [record(), record(logger="aiokafka.conn"), record(level=logging.WARNING)]
    other_node = record("Unable connect to node with id %s: %s", 2, "refused")
    information = [record("GET /health/ready", logger="uvicorn.access", level=logging.INFO)] * 3
    assert len(passed(limiter, [*first, other_node, *information])) == 7


def test_structlog_lines_differ_by_what_they_carry() -> None:
    """A structlog record's message is its event dict: the same event bound to two requests
    (two correlation ids) is two lines; the same event with the same fields is a repeat."""
    limiter = RepeatLimiter(30.0, clock=StoppedClock())

    def event(correlation: str) -> logging.LogRecord:
        fields = {"event": "handler failed", "correlation_id": correlation}
        return logging.LogRecord("eps_chassis.consumer", logging.ERROR, "", 1, fields, (), None)

    assert len(passed(limiter, [event("a"), event("b"), event("a")])) == 2


def test_an_interval_of_zero_holds_nothing_back() -> None:
    limiter = RepeatLimiter(0, clock=StoppedClock())
    assert len(passed(limiter, [record() for _ in range(10)])) == 10


def test_the_messages_remembered_are_bounded() -> None:
    clock = StoppedClock()
    limiter = RepeatLimiter(1.0, clock=clock, max_tracked=10)
    for node in range(10):
        limiter.filter(record("Unable connect to node with id %s", node))
    clock.now += 2
    limiter.filter(record("Unable connect to node with id %s", 99))
    assert len(limiter._written) == 1  # those whose interval had passed are forgotten


# --- the process's lines, through configure_logging -------------------------------------------


@pytest.fixture
def lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """configure_logging into a buffer; each line of it parsed (and the process's logging as it
    was afterwards)."""
    root = logging.getLogger()
    saved = (root.level, structlog.get_config(), sys.excepthook, threading.excepthook)
    buffer = io.StringIO()
    configure_logging("referrals", "INFO", repeat_interval_s=30.0, stream=buffer)
    [ours] = root.handlers

    def parsed() -> list[dict[str, Any]]:
        return [json.loads(line) for line in buffer.getvalue().splitlines()]

    try:
        yield parsed
    finally:
        # pytest's own handlers are its test phase's: it adds and removes them itself
        root.removeHandler(ours)
        root.setLevel(saved[0])
        structlog.configure(**saved[1])
        sys.excepthook, threading.excepthook = saved[2], saved[3]
        logging.captureWarnings(False)


def test_library_lines_are_json_with_the_service_and_what_the_request_bound(
    lines: Callable[[], list[dict[str, Any]]],
) -> None:
    correlation = str(uuid.uuid4())
    with scoped_context(correlation_id=correlation, path="/referrals"):
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/referrals?x=1", "1.1", 200
        )
    logging.getLogger("aiokafka").error("Unable connect to node with id %s: %s", 1, "refused")
    access, kafka = lines()
    assert access["event"] == '127.0.0.1:5000 - "GET /referrals?x=1 HTTP/1.1" 200'
    assert access["correlation_id"] == correlation and access["path"] == "/referrals"
    assert (access["method"], access["status"], access["full_path"]) == (
        "GET",
        200,
        "/referrals?x=1",
    )
    assert access["logger"] == "uvicorn.access" and access["level"] == "info"
    assert kafka["event"] == "Unable connect to node with id 1: refused"
    assert kafka["level"] == "error" and kafka["logger"] == "aiokafka"
    assert "correlation_id" not in kafka
    assert {access["service"], kafka["service"]} == {"referrals"}
    assert all("timestamp" in line for line in (access, kafka))


def test_structlog_lines_keep_their_fields_and_below_the_level_nothing_is_written(
    lines: Callable[[], list[dict[str, Any]]],
) -> None:
    log = structlog.get_logger()
    with scoped_context(correlation_id="c-1"):
        log.info("referral received", referral_id="r-1")
    log.debug("not written")
    logging.getLogger("faststream.kafka").debug("per message, not written")
    [line] = lines()
    assert line["event"] == "referral received" and line["referral_id"] == "r-1"
    assert line["correlation_id"] == "c-1" and line["service"] == "referrals"
    assert line["level"] == "info"


def test_exceptions_warnings_and_uncaught_errors_are_json(
    lines: Callable[[], list[dict[str, Any]]],
) -> None:
    try:
        raise ValueError("bad value")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
        structlog.get_logger().exception("handler failed")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("deprecated thing", DeprecationWarning, stacklevel=1)
    try:
        raise RuntimeError("at startup")
    except RuntimeError as error:
        sys.excepthook(RuntimeError, error, error.__traceback__)
    asgi, handler, warning, uncaught = lines()
    assert "ValueError: bad value" in asgi["exception"] and asgi["level"] == "error"
    assert "ValueError: bad value" in handler["exception"]
    assert "deprecated thing" in warning["event"] and warning["logger"] == "py.warnings"
    assert uncaught["level"] == "critical" and "RuntimeError: at startup" in uncaught["exception"]


def test_a_repeated_connection_error_is_written_once_then_with_its_count(
    lines: Callable[[], list[dict[str, Any]]],
) -> None:
    handler = logging.getLogger().handlers[0]
    [limiter] = [f for f in handler.filters if isinstance(f, RepeatLimiter)]
    clock = StoppedClock()
    limiter._clock = clock
    kafka = logging.getLogger("aiokafka")
    for _ in range(1000):
        kafka.error("Unable connect to node with id %s: %s", 1, "refused")
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 1)
    clock.now += 30
    kafka.error("Unable connect to node with id %s: %s", 1, "refused")
    first, started, next_one = lines()
    assert "repeats_suppressed" not in first and started["event"] == "Started server process [1]"
    assert next_one["repeats_suppressed"] == 999
