"""LogSink: secret masking, batched inserts, and the head + marker + tail size cap."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from builds.logs import store
from builds.logs.messages import system_entry
from builds.logs.sink import MASK, LogSink
from builds.models import BuildLogLine


@pytest.fixture
def build(transactional_db, make_build, project):
    # transactional: the sink's flush thread has its own connection and must see the row.
    return make_build(project, status="in_progress")


@pytest.fixture
def make_sink(build):
    """make_sink(**options) -> a LogSink whose timer never fires on its own (flushes are explicit)."""
    sinks = []

    def make(**options) -> LogSink:
        options.setdefault("flush_seconds", 3600)
        sink = LogSink(build.pk, **options)
        sinks.append(sink)
        return sink

    yield make
    for sink in sinks:
        sink.close()


def stored(build) -> list[BuildLogLine]:
    return list(BuildLogLine.objects.filter(build=build).order_by("seq"))


@pytest.mark.parametrize("flush_every", [1, 7, 1000])
@pytest.mark.parametrize("cap", [{"max_lines": 10}, {"max_bytes": 10 * len("line 000")}])
def test_cap_keeps_head_marker_and_tail(build, make_sink, cap, flush_every):
    sink = make_sink(**cap)

    for n in range(1, 101):
        sink.emit(f"line {n:03d}")
        if n % flush_every == 0:
            sink.flush()
    sink.close()

    lines = stored(build)
    messages = [line.message for line in lines]
    assert messages[:5] == [f"line {n:03d}" for n in range(1, 6)]
    assert messages[5].startswith("[log truncated: this build printed more than")
    assert lines[5].level == "WARN" and lines[5].metadata["event"] == "truncated"
    tail = messages[6:]
    assert 1 <= len(tail) <= 5 and tail == [f"line {n:03d}" for n in range(101 - len(tail), 101)], messages
    assert [line.seq for line in lines] == sorted(line.seq for line in lines)


def test_under_the_cap_nothing_is_dropped(build, make_sink):
    sink = make_sink(max_lines=100)
    for n in range(100):
        sink.emit(f"line {n}")
    sink.close()

    assert [line.message for line in stored(build)] == [f"line {n}" for n in range(100)]
    assert [line.seq for line in stored(build)] == list(range(1, 101))


def test_secrets_are_masked_in_messages_and_metadata(build, make_sink):
    sink = make_sink(secrets=["hunter22", "hunter22-admin", "ab", ""])

    sink.emit(
        "login with hunter22-admin then hunter22",
        level="ERROR",
        metadata={"step": "build", "step_name": "RUN echo hunter22"},
    )
    sink.emit("a line about tabs")  # secrets shorter than 3 characters are not masked
    sink.close()

    first, second = stored(build)
    assert first.message == f"login with {MASK} then {MASK}"
    assert first.metadata == {"step": "build", "step_name": f"RUN echo {MASK}"}
    assert first.level == "ERROR"
    assert second.message == "a line about tabs"
    assert sink.mask("x hunter22 y") == f"x {MASK} y"


def test_lines_are_inserted_in_batches(build, make_sink):
    sink = make_sink()
    for n in range(400):
        sink.emit(f"line {n}", metadata={"step": "build"})

    with CaptureQueriesContext(connection) as queries:
        sink.flush()

    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("INSERT")]
    assert 1 <= len(inserts) <= 3, inserts  # SQLite may split a bulk insert by its variable limit
    assert len(queries.captured_queries) <= 8, [q["sql"][:80] for q in queries.captured_queries]
    assert BuildLogLine.objects.filter(build=build).count() == 400


def test_background_thread_flushes_without_close(build, make_sink):
    sink = make_sink(flush_seconds=0.05)
    sink.emit("flushed by the timer")

    from testing import wait_until

    wait_until(lambda: BuildLogLine.objects.filter(build=build).exists(), timeout=10, what="the timer flush")
    assert stored(build)[0].message == "flushed by the timer"


def refusing_log_writes(execute, sql, params, many, context):
    """Django's hook between the ORM and the driver: log writes fail as in a database outage."""
    if '"builds_buildlogline"' in sql and sql.lstrip().upper().startswith("INSERT"):
        raise OperationalError("the connection is closed")
    return execute(sql, params, many, context)


def test_last_line_and_close_can_be_done_again_after_a_database_outage(build, make_sink):
    sink = make_sink()
    sink.emit("building")
    sink.flush()

    with connection.execute_wrapper(refusing_log_writes), pytest.raises(OperationalError):
        sink.write_now("Build succeeded")
    sink.write_now("Build succeeded")  # the engine tries again once the database answers
    with connection.execute_wrapper(refusing_log_writes):
        sink.emit("a line the outage loses")
        with pytest.raises(OperationalError):
            sink.close(status="success")
    sink.close(status="success")  # again: nothing is left to store, the log ends

    lines = stored(build)
    assert [line.message for line in lines] == ["building", "Build succeeded"]
    assert [line.seq for line in lines] == [1, 2]  # the failed try took no number
    assert sink._closed


def test_a_sink_run_again_never_reuses_a_seq_the_first_one_published(build, make_sink):
    """A worker died after publishing lines it had not stored: the next sink (a re-run) and the
    janitor's last line number theirs after every seq the dead sink could have published."""
    dead = LogSink(build.pk, flush_seconds=3600)
    for n in range(5):
        dead.emit(f"published, never stored {n}")  # the worker dies here: no flush, no close
    published = dead._next_seq - 1

    again = make_sink()
    again.emit("the re-run's first line")
    again.close()
    store.append_lines(build.pk, [system_entry("worker lost")])

    lines = stored(build)
    assert [line.message for line in lines] == ["the re-run's first line", "worker lost"]
    assert lines[0].seq > published and lines[1].seq > lines[0].seq
    dead._closing = True  # let its threads end without storing anything


def test_a_closed_sink_gives_back_the_seqs_it_did_not_use(build, make_sink):
    sink = make_sink()
    for n in range(3):
        sink.emit(f"line {n}")
    sink.close()
    store.append_lines(build.pk, [system_entry("after")])

    assert [line.seq for line in stored(build)] == [1, 2, 3, 4]
