"""Keep secrets out of the HTTP libraries' own log records.

httpcore logs every response's headers at DEBUG, so a server that echoes the token back in a
header (some error pages do) would put it in the application's logs. A filter on the loggers of the
libraries hfbridge sends through redacts what they emit. A logger runs its filters only for records
it actually emits, so this costs nothing while their DEBUG logging is off.
"""

from __future__ import annotations

import logging

from hfbridge._redact import redact

_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "aiohttp.client",
    "aiohttp.internal",
)


class RedactingFilter(logging.Filter):
    """Rewrite a record whose text holds a secret into its redacted text."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; never drops it."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: logging reports it when emitting
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = RedactingFilter()


def install_redacting_filter() -> None:
    """Attach the filter to the HTTP libraries' loggers (idempotent)."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


_transport_logger = logging.getLogger("hfbridge.transport")


def log_retry(attempt: int, error: BaseException, delay: float) -> None:
    """The DEBUG record of one scheduled retry (the same words as tenacity's loop writes)."""
    _transport_logger.debug(
        "hfbridge retry: attempt %d failed (%s); retrying in %.2f s",
        attempt,
        type(error).__name__,
        delay,
    )
