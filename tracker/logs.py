"""One log format for every role: time, the role's name, level, logger, message; plain text (no colour codes,
the logs go to files and journals), one line per thing that happened."""

from __future__ import annotations

import logging
import sys

# Loggers that say too much at INFO: APScheduler (two lines per job run, from the standby too; tracker.scheduler
# says one), aiosmtpd (some ten lines per message; tracker.sink says one), the NATS client's reconnect chatter.
QUIET = ("apscheduler.executors", "apscheduler.scheduler", "mail.log")


def log_format(role: str) -> str:
    return f"%(asctime)s {role} %(levelname)s %(name)s: %(message)s"


def setup_logging(role: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(log_format(role)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    through_the_root()


def through_the_root() -> None:
    """faststream gives its loggers a handler of their own with colour codes, always; send them through the root
    handler instead. Call again once a broker has started (it makes its loggers then)."""
    for name in list(logging.root.manager.loggerDict):
        if name == "faststream" or name.startswith("faststream."):
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.propagate = True
