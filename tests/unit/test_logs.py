"""Every role logs one plain format with its name: no colour codes, whatever library wrote the line."""

from __future__ import annotations

import logging

import pytest

from tracker.logs import setup_logging


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_every_line_names_the_role_and_carries_no_colour_codes(capsys, restore_logging):
    import faststream  # noqa: F401 - its logger comes with a handler of its own that always colours

    setup_logging("worker")
    logging.getLogger("faststream").warning("consumer restarted")
    logging.getLogger("tracker.handlers").info("an event handled")
    logging.getLogger("faststream").info("callback for Task-12 is being executed...")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert all(" worker " in line and "\x1b[" not in line for line in lines)
    assert lines[0].endswith("WARNING faststream: consumer restarted")


def test_the_chatty_libraries_say_only_what_matters(capsys, restore_logging):
    setup_logging("scheduler")
    logging.getLogger("apscheduler.executors.default").info('Running job "sweep_job"')
    logging.getLogger("mail.log").info("('127.0.0.1', 5000) handling connection")
    logging.getLogger("mail.log").warning("connection lost")
    [line] = capsys.readouterr().err.splitlines()
    assert line.endswith("scheduler WARNING mail.log: connection lost")
