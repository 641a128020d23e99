"""Structured JSON logs: one JSON object per line on stdout, whoever writes it.

Our own lines (structlog) and every library's (the web server, the Kafka client, the database
driver, FastStream: anything using the standard library's ``logging``), uncaught exceptions and
warnings all leave through one handler and one renderer, so each line carries ``event``,
``level``, ``timestamp``, ``logger`` and ``service``, plus what the request or event being handled
bound (``correlation_id``, ``path``, ``tenant``, ``actor``), ``exception`` when there is one, and
``repeats_suppressed`` on a warning that was repeated (``eps_chassis.log_repeats``).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from eps_chassis.log_repeats import SUPPRESSED_ATTRIBUTE, RepeatLimiter

# Libraries that give their loggers handlers of their own (and stop them propagating): their
# lines are taken back to the one JSON handler. (FastStream's broker logs to the logger the
# service gives it, ``faststream.kafka``, which has none.)
_OWN_HANDLERS = ("faststream",)
# What FastStream's lines carry beside the message
_LIBRARY_FIELDS = ("topic", "group_id", "message_id")


def configure_logging(
    service: str,
    level: str = "INFO",
    *,
    repeat_interval_s: float = 30.0,
    stream: TextIO | None = None,
) -> None:
    """Every line of this process JSON on ``stream`` (stdout), at ``level`` and above; a warning
    or error repeated word for word written once per ``repeat_interval_s`` (0: every time)."""
    threshold = logging.getLevelName(level.upper())
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setLevel(threshold)  # a library's logger may be more verbose than the root
    handler.addFilter(RepeatLimiter(repeat_interval_s))
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            # a library's record: what the request bound, its level and logger
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(allow=_LIBRARY_FIELDS),
                _access_fields,
            ],
            pass_foreign_args=True,  # for _access_fields
            processors=[
                _repeats_suppressed,
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _service(service),
                structlog.stdlib.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.StackInfoRenderer(),
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(threshold)
    for name in _OWN_HANDLERS:
        adopted = logging.getLogger(name)
        adopted.handlers.clear()
        adopted.propagate = True
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,  # here: the context is the caller's
            structlog.stdlib.add_logger_name,
            structlog.processors.format_exc_info,  # here: while the exception is being handled
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        cache_logger_on_first_use=True,
    )


def get_logger(**initial: Any) -> Any:
    return structlog.get_logger(**initial)


bound_context = structlog.contextvars.bound_contextvars


@contextlib.contextmanager
def scoped_context(**values: Any) -> Iterator[None]:
    """Bind ``values`` for the block; whatever else is bound inside it (a request's tenant and
    actor, bound by its auth dependency) ends with it too. An ASGI server runs each request in a
    task of its own, but a caller of the app in-process (tests, benchmarks) shares its task."""
    before = structlog.contextvars.get_contextvars()
    structlog.contextvars.bind_contextvars(**values)
    try:
        yield
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(**before)


def _service(service: str) -> Processor:
    """Every line names its service, those written from another thread too (the context
    variables are the task's)."""

    def add(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", service)
        return event_dict

    return add


def _access_fields(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """The web server's access line as fields too (client, method, status), so that a reader
    can select the 5xx without parsing the message."""
    args = event_dict.pop("positional_args", ())
    if event_dict.get("logger") == "uvicorn.access" and len(args) == 5:
        client, method, full_path, _, status = args
        event_dict.update(client=client, method=method, full_path=full_path, status=status)
    return event_dict


def _repeats_suppressed(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    suppressed = getattr(event_dict.get("_record"), SUPPRESSED_ATTRIBUTE, 0)
    if suppressed:
        event_dict[SUPPRESSED_ATTRIBUTE] = suppressed
    return event_dict


def _log_uncaught(
    kind: type[BaseException], error: BaseException, traceback: types.TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, traceback)
        return
    logging.getLogger("eps").critical("uncaught exception", exc_info=(kind, error, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None:
        return
    logging.getLogger("eps").critical(
        "uncaught exception in a thread",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )
