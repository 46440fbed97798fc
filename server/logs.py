"""Structured logging: one JSON line per event in production, readable lines locally."""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

_SECRET_NAMES = {"token", "secret", "password", "authorization", "signature", "code", "key"}


def _is_secret(key: str) -> bool:
    key = key.lower()
    return key in _SECRET_NAMES or key.endswith(("_token", "_secret", "_password", "_key"))


def _redact(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """Never let a credential reach the logs, whatever a caller passes."""
    for key in list(event_dict):
        if _is_secret(key):
            event_dict[key] = "[redacted]"
    return event_dict


SHARED_PROCESSORS: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    _redact,
]


def stdlib_formatter(fmt: str = "json") -> logging.Formatter:
    """A ``logging`` formatter giving standard-library records (gunicorn's too) our one-line format."""
    renderer = structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=SHARED_PROCESSORS,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.format_exc_info,
                    renderer],
    )


def configure_logging(fmt: str = "console", level: str = "INFO") -> None:
    """Route structlog and the standard library through one renderer on stdout."""
    shared = SHARED_PROCESSORS
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(stdlib_formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
