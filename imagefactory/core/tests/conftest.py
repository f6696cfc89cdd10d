"""Fixtures of the platform tests: the log records a request leaves behind."""

from __future__ import annotations

import logging

import pytest

from imagefactory.core.logging import ContextFilter


class _Collector(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.addFilter(ContextFilter())  # the project's filter, applied at emit time like the real handler

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def log_records():
    """Every record logged (root logger and below) while the test runs, stamped by ContextFilter."""
    collector = _Collector()
    root = logging.getLogger()
    root.addHandler(collector)
    try:
        yield collector.records
    finally:
        root.removeHandler(collector)
