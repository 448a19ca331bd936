"""One log format for every role: time, the role's name, level, logger, message; plain text (no colour codes,
the logs go to files and journals), one line per thing that happened."""

from __future__ import annotations

import logging
import sys

# Loggers that say too much at INFO: APScheduler (two lines per job run, from the standby too; tracker.entry.scheduler
# says one), aiosmtpd (some ten lines per message; tracker.sink says one), the NATS client's reconnect chatter.
QUIET = ("apscheduler.executors", "apscheduler.scheduler", "mail.log")


def log_format(role: str) -> str:
    return f"%(asctime)s {role} %(levelname)s %(name)s: %(message)s"


class WithoutTaskCallbacks(logging.Filter):
    """faststream says "callback for Task-N is being executed..." at INFO whenever a subscriber's task ends."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith("callback for Task-"))


def _handler(role: str, stream) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(log_format(role)))
    handler.addFilter(WithoutTaskCallbacks())
    return handler


def setup_logging(role: str, level: int = logging.INFO) -> None:
    root = logging.getLogger()
    root.handlers[:] = [_handler(role, sys.stderr)]
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    through_the_root()
    # The broker's access logger is made when a broker starts, with a colouring handler on stdout unless it has a
    # stdout handler already: give it ours first.
    access = logging.getLogger("faststream.access.nats")
    access.handlers[:] = [_handler(role, sys.stdout)]
    access.propagate = False


def through_the_root() -> None:
    """faststream gives its loggers a handler of their own with colour codes, always; send them through the root
    handler instead. Call again once a broker has started (it makes its loggers then)."""
    for name in list(logging.root.manager.loggerDict):
        if name == "faststream" or name.startswith("faststream."):
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.propagate = True
