"""StreamCursor: the replay/live seam, de-duplication and gap filling, without a socket or a database."""

from __future__ import annotations

import pytest

from builds.stream.cursor import End, ReadStore, Send, StreamCursor, Wait, seq_of

NOW = 100.0  # a monotonic time; the cursor never reads a clock itself


def line(seq: int) -> dict:
    return {"message": f"line {seq}", "metadata": {"seq": str(seq)}}


def lines(first: int, last: int) -> list[dict]:
    return [line(seq) for seq in range(first, last + 1)]


def sent(step) -> list[int]:
    assert isinstance(step, Send), step
    return [seq_of(item) for item in step.lines]


def replay(cursor: StreamCursor, stored: list[dict]) -> list[int]:
    """Answers the cursor's store read with `stored` (all of it, one read) and returns what it hands out."""
    step = cursor.next_step()
    assert isinstance(step, ReadStore), step
    token = cursor.store_read_started()
    cursor.stored([item for item in stored if seq_of(item) > step.after_seq], token=token, complete=True, now=NOW)
    return sent(cursor.next_step()) if any(seq_of(item) > step.after_seq for item in stored) else []


def test_a_new_client_first_reads_the_store_after_since():
    cursor = StreamCursor(since=3)

    assert cursor.next_step() == ReadStore(after_seq=3)
    assert cursor.replaying


def test_the_replay_is_handed_out_then_the_cursor_waits_for_live_lines():
    cursor = StreamCursor()

    assert replay(cursor, lines(1, 4)) == [1, 2, 3, 4]
    assert cursor.next_step() == Wait()
    assert not cursor.replaying  # the lag limit applies from now on


def test_contiguous_live_lines_go_out_without_reading_the_store():
    cursor = StreamCursor()
    replay(cursor, lines(1, 2))
    cursor.next_step()

    cursor.live(lines(3, 5))

    assert sent(cursor.next_step()) == [3, 4, 5]
    assert cursor.next_step() == Wait()


def test_live_copies_of_lines_already_handed_out_are_dropped():
    cursor = StreamCursor()
    replay(cursor, lines(1, 5))

    cursor.live(lines(3, 6))  # 3..5 came through the replay too

    assert sent(cursor.next_step()) == [6]


def test_a_live_line_committed_during_the_replay_read_is_sent_once():
    cursor = StreamCursor()
    step = cursor.next_step()
    token = cursor.store_read_started()
    cursor.live(lines(6, 8))  # published while the replay query ran; the read saw 1..5 only
    cursor.stored(lines(1, 5), token=token, complete=True, now=NOW)

    assert sent(cursor.next_step()) == [1, 2, 3, 4, 5]
    assert sent(cursor.next_step()) == [6, 7, 8]
    assert isinstance(step, ReadStore) and cursor.next_step() == Wait()


def test_a_gap_in_live_seqs_is_read_from_the_store_in_order():
    cursor = StreamCursor()
    replay(cursor, lines(1, 3))
    cursor.next_step()

    cursor.live(lines(7, 8))  # 4..6 were dropped by the channel layer

    assert cursor.next_step() == ReadStore(after_seq=3)
    token = cursor.store_read_started()
    cursor.stored(lines(4, 8), token=token, complete=True, now=NOW)
    assert sent(cursor.next_step()) == [4, 5, 6, 7, 8]
    assert cursor.next_step() == Wait()


def test_the_store_may_skip_seqs_of_a_truncated_log():
    cursor = StreamCursor()

    handed = replay(cursor, [line(1), line(2), line(900), line(901)])  # 3..899 dropped from the middle

    assert handed == [1, 2, 900, 901]


def test_the_end_is_sent_only_after_reading_the_lines_stored_before_it():
    cursor = StreamCursor()
    replay(cursor, lines(1, 2))
    cursor.next_step()

    cursor.finish("success")  # lines 3..4 never arrived live

    assert cursor.next_step() == ReadStore(after_seq=2)
    token = cursor.store_read_started()
    cursor.stored(lines(3, 4), token=token, complete=True, now=NOW)
    assert sent(cursor.next_step()) == [3, 4]
    assert cursor.next_step() == End("success")


def test_a_partial_store_read_asks_for_the_next_chunk():
    cursor = StreamCursor()
    cursor.next_step()
    token = cursor.store_read_started()

    cursor.stored(lines(1, 500), token=token, complete=False, now=NOW)

    assert sent(cursor.next_step())[-1] == 500
    assert cursor.next_step() == ReadStore(after_seq=500)


def test_a_reason_to_read_arriving_during_a_read_keeps_the_store_wanted():
    cursor = StreamCursor()
    replay(cursor, lines(1, 2))
    cursor.next_step()
    cursor.live([line(4)])  # gap: 3 missing
    step = cursor.next_step()
    token = cursor.store_read_started()
    cursor.finish("failed")  # arrives while the gap read runs
    cursor.stored([line(3), line(4)], token=token, complete=True, now=NOW)

    assert isinstance(step, ReadStore)
    assert sent(cursor.next_step()) == [3, 4]
    assert cursor.next_step() == ReadStore(after_seq=4)  # the end's own read


def test_a_gap_not_stored_yet_is_read_again_shortly():
    """Lines are published before they are stored: the store may lag behind the live feed."""
    cursor = StreamCursor(retry_seconds=0.1, gap_grace_seconds=3)
    replay(cursor, lines(1, 2))
    cursor.next_step()
    cursor.live([line(5)])  # 3 and 4 were published to nobody yet stored by nobody

    assert cursor.next_step(NOW) == ReadStore(after_seq=2)
    cursor.stored([], token=cursor.store_read_started(), complete=True, now=NOW)
    assert cursor.next_step(NOW + 0.05) == Wait(until=NOW + 0.1)  # no busy loop
    assert cursor.next_step(NOW + 0.1) == ReadStore(after_seq=2)
    cursor.stored(lines(3, 5), token=cursor.store_read_started(), complete=True, now=NOW + 0.1)

    assert sent(cursor.next_step(NOW + 0.1)) == [3, 4, 5]


def test_a_gap_the_store_never_gets_is_skipped_after_the_grace():
    """The middle of a capped log is published but never stored."""
    cursor = StreamCursor(retry_seconds=0.1, gap_grace_seconds=3)
    replay(cursor, lines(1, 2))
    cursor.next_step()
    cursor.live(lines(9, 10))

    for moment in (NOW, NOW + 1, NOW + 2.9):
        assert cursor.next_step(moment) == ReadStore(after_seq=2)
        cursor.stored([], token=cursor.store_read_started(), complete=True, now=moment)
    assert isinstance(cursor.next_step(NOW + 2.95), Wait)
    cursor.next_step(NOW + 3.0)
    cursor.stored([], token=cursor.store_read_started(), complete=True, now=NOW + 3.0)

    assert sent(cursor.next_step(NOW + 3.0)) == [9, 10]


def test_at_the_end_a_gap_the_store_lacks_is_skipped_at_once():
    cursor = StreamCursor(gap_grace_seconds=3)
    replay(cursor, lines(1, 2))
    cursor.next_step()
    cursor.live([line(6)])
    cursor.finish("success")

    assert cursor.next_step(NOW) == ReadStore(after_seq=2)
    cursor.stored([], token=cursor.store_read_started(), complete=True, now=NOW)

    assert sent(cursor.next_step(NOW)) == [6]
    assert cursor.next_step(NOW) == End("success")


def test_a_read_started_before_the_end_does_not_skip_the_gap():
    """The read raced the sink's last store: it found nothing, and the end arrived meanwhile. Only a
    read started after the end may conclude the gap is never coming."""
    cursor = StreamCursor(gap_grace_seconds=3)
    replay(cursor, lines(1, 2))
    cursor.next_step()
    cursor.live([line(6)])

    assert cursor.next_step(NOW) == ReadStore(after_seq=2)
    token = cursor.store_read_started()
    cursor.finish("success")  # arrives while the read is under way
    cursor.stored([], token=token, complete=True, now=NOW)

    assert cursor.next_step(NOW + 0.2) == ReadStore(after_seq=2)
    cursor.stored(lines(3, 5), token=cursor.store_read_started(), complete=True, now=NOW + 0.2)
    assert sent(cursor.next_step(NOW + 0.2)) == [3, 4, 5]
    assert sent(cursor.next_step(NOW + 0.2)) == [6]


@pytest.mark.parametrize("limit", [3, 10])
def test_the_live_buffer_is_bounded_and_refilled_from_the_store(limit):
    cursor = StreamCursor(buffer_limit=limit)
    replay(cursor, lines(1, 1))
    cursor.next_step()

    cursor.live(lines(3, 3 + limit))  # more than the buffer holds, behind a gap

    assert cursor.next_step() == ReadStore(after_seq=1)
    token = cursor.store_read_started()
    cursor.stored(lines(2, 3 + limit), token=token, complete=True, now=NOW)
    assert sent(cursor.next_step()) == list(range(2, 4 + limit))
