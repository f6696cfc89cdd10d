"""Periodic: the timer behind the build janitor and the webhook sweeper."""

from __future__ import annotations

import threading

from imagefactory.core.jobs import Periodic


def test_a_failed_pass_is_logged_and_the_next_one_still_comes(caplog):
    passes: list[int] = []
    third = threading.Event()

    def run() -> None:
        passes.append(len(passes))
        if len(passes) == 1:
            raise RuntimeError("the first pass fails")
        if len(passes) == 3:
            third.set()

    Periodic("test-periodic-failing", run, interval=lambda: 0.01).start()

    assert third.wait(10), passes
    assert "test-periodic-failing: pass failed" in caplog.text


def test_it_starts_once_and_a_first_pass_at_start_comes_before_the_interval():
    ran = threading.Event()
    timer = Periodic("test-periodic-at-start", ran.set, interval=lambda: 3600.0, at_start=True)

    timer.start()
    timer.start()

    assert ran.wait(10)  # an hour's interval, yet the first pass ran at once
    assert [t.name for t in threading.enumerate() if t.name == "test-periodic-at-start"] == ["test-periodic-at-start"]
