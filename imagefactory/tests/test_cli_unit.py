"""The CLI's pure logic: configuration, the backoff schedule, Retry-After, resume-without-repeats, output.

The end-to-end behaviour against a real server is in test_cli_e2e.py.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

from imagefactory.cli import config
from imagefactory.cli.client import ApiError, Backoff, Client, DeadlineExceeded, parse_retry_after, retryable_status
from imagefactory.cli.main import EXIT_ERROR, UsageError, main, parse_build_args
from imagefactory.cli.output import CLEAR_LINE, Output, progress_text
from imagefactory.cli.stream import LogFollower, SeqDedup, message_seq

# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "root"),
    [
        ("http://ci.example:8080", "http://ci.example:8080"),
        ("http://ci.example:8080/", "http://ci.example:8080"),
        ("http://ci.example:8080/api/v1", "http://ci.example:8080"),
        ("http://ci.example:8080/api/v1/", "http://ci.example:8080"),
        ("https://ci.example/factory/api/v1", "https://ci.example/factory"),
        ("  https://ci.example/factory/  ", "https://ci.example/factory"),
    ],
)
def test_server_root_accepts_a_trailing_api_prefix(raw, root):
    assert config.server_root(raw) == root


@pytest.mark.parametrize("raw", ["ci.example:8080", "ftp://ci.example", "http://", "http://h/?x=1"])
def test_server_root_refuses_what_is_not_an_http_root(raw):
    with pytest.raises(config.ConfigError):
        config.server_root(raw)


def test_api_and_websocket_urls_follow_the_scheme():
    plain = config.Config(server="http://h:1")
    secure = config.Config(server="https://h/x")
    assert (plain.api_url, plain.ws_url) == ("http://h:1/api/v1", "ws://h:1/api/v1")
    assert (secure.api_url, secure.ws_url) == ("https://h/x/api/v1", "wss://h/x/api/v1")


def test_flags_win_over_environment_and_empty_values_count_as_unset():
    environ = {
        "IMAGEFACTORY_URL": "http://env:1/api/v1",
        "IMAGEFACTORY_TOKEN": "env-token",
        "IMAGEFACTORY_TENANT": "",
    }
    loaded = config.load({"token": "flag-token", "tenant": None, "url": ""}, environ)
    assert loaded == config.Config(server="http://env:1", token="flag-token", tenant=None)


def test_defaults_and_credentials():
    assert config.load({}, {}).server == config.DEFAULT_URL
    loaded = config.load({}, {"IMAGEFACTORY_EMAIL": "a@b.c", "IMAGEFACTORY_PASSWORD": "pw"})
    assert loaded.can_log_in and loaded.token is None


def test_email_without_password_is_a_usage_error():
    with pytest.raises(config.ConfigError):
        config.load({"email": "a@b.c"}, {})


# --- retries ----------------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap():
    assert Backoff(base=0.5, factor=2, cap=10, retries=7).schedule() == [0.5, 1, 2, 4, 8, 10, 10]


def test_retry_after_wins_over_the_schedule_within_bounds():
    backoff = Backoff(base=0.5, max_retry_after=60)
    assert backoff.delay(0, retry_after=7) == 7
    assert backoff.delay(5, retry_after=0) == 0
    assert backoff.delay(0, retry_after=86400) == 60


def test_retry_after_as_seconds_or_http_date():
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_retry_after("12") == 12
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


@pytest.mark.parametrize(("status", "retry"), [(429, True), (500, True), (502, True), (503, True), (501, False)])
def test_which_statuses_are_retried(status, retry):
    assert retryable_status(status) is retry
    assert not retryable_status(404) and not retryable_status(409)


def test_pausing_never_sleeps_past_the_deadline():
    now = [100.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    client = Client(config.Config(server="http://h"), deadline=105.0, sleep=sleep, clock=lambda: now[0])
    client.pause(3)
    with pytest.raises(DeadlineExceeded):
        client.pause(3)
    assert slept == [3, 2]


# --- the log stream: resume with ?since= and print no line twice -----------------------------


def test_seq_dedup_drops_replayed_lines():
    dedup = SeqDedup()
    assert [seq for seq in [1, 2, 3, 2, 3, 4, None, 4, 5] if dedup.accept(seq)] == [1, 2, 3, 4, None, 5]
    assert dedup.last == 5


def line(seq: int) -> str:
    return json.dumps(
        {"build_id": "b", "timestamp": "t", "level": "INFO", "message": f"line {seq}", "metadata": {"seq": str(seq)}}
    )


def end(seq: int, status: str) -> str:
    metadata = {"seq": str(seq), "event": "end", "status": status}
    return json.dumps({"build_id": "b", "level": "INFO", "message": f"Build finished: {status}", "metadata": metadata})


class ScriptedSocket:
    """A WebSocket connection that hands out frames, then drops (ConnectionClosed) or idles."""

    def __init__(self, frames: list[str], close_code: int | None):
        self.frames = list(frames)
        self.close_code = close_code

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def recv(self, timeout=None):
        if self.frames:
            return self.frames.pop(0)
        raise ConnectionClosed(Close(self.close_code, "") if self.close_code else None, None)


def test_follower_resumes_after_the_last_line_and_prints_each_line_once():
    # The server replays from ?since=, but a line the client already has may come again (a live
    # line racing the replay): the follower must drop it.
    sessions = [
        ScriptedSocket([line(1), line(2), line(3)], close_code=None),  # dropped: no close frame
        ScriptedSocket([line(3), line(4), line(5)], close_code=1013),  # 3 again; then "try later"
        ScriptedSocket([line(6), end(6, "success")], close_code=None),
    ]
    urls = []

    def connect(url, **kwargs):
        urls.append(url)
        return sessions.pop(0)

    printed = []
    client = Client(config.Config(server="http://h", token="t", tenant="00000000-0000-0000-0000-000000000001"))
    client.pause = lambda seconds: None
    follower = LogFollower(client, "b", on_line=lambda m: printed.append(m["message"]), connect=connect)
    assert follower.follow() == "success"
    assert printed == [f"line {n}" for n in range(1, 7)]
    assert [url.rsplit("?", 1)[1] for url in urls] == ["since=0", "since=3", "since=5"]
    assert follower.reconnects == 2


def test_follower_raises_the_refusal_envelope():
    refusal = json.dumps({"error": "Build not found", "code": "NOT_FOUND", "trace_id": "abc", "details": {}})
    client = Client(config.Config(server="http://h", token="t", tenant="00000000-0000-0000-0000-000000000001"))
    follower = LogFollower(client, "b", on_line=print, connect=lambda url, **kw: ScriptedSocket([refusal], 4404))
    with pytest.raises(ApiError) as raised:
        follower.follow()
    assert (raised.value.status, raised.value.message, raised.value.trace_id) == (404, "Build not found", "abc")


def test_message_seq_reads_the_string_metadata():
    assert message_seq({"metadata": {"seq": "41"}}) == 41
    assert message_seq({"metadata": {}}) is None
    assert message_seq({}) is None


# --- commands and output ------------------------------------------------------------------------


def test_build_args_are_key_value_pairs():
    assert parse_build_args(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    for bad in ("A", "=1"):
        with pytest.raises(UsageError):
            parse_build_args([bad])


def test_usage_errors_exit_3_not_argparse_2(capsys):
    # 2 means "cancelled" to a CI job.
    for argv in (["builds"], ["build", "--branch", "main"], ["nonsense"], ["build", "--timeout", "0"]):
        with pytest.raises(SystemExit) as exited:
            main(argv, environ={})
        assert exited.value.code == EXIT_ERROR
    assert main(["projects", "list", "--url", "not-a-url"], environ={}) == EXIT_ERROR
    assert "must be an http:// or https:// URL" in capsys.readouterr().err


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_line_only_on_a_terminal_and_lifted_for_output():
    pipe_out, pipe_err = io.StringIO(), io.StringIO()
    piped = Output(stdout=pipe_out, stderr=pipe_err)
    piped.progress("#1 in_progress")
    piped.log_line({"message": "hello"})
    assert (pipe_out.getvalue(), pipe_err.getvalue()) == ("hello\n", "")

    tty_out, tty_err = io.StringIO(), Terminal()
    interactive = Output(stdout=tty_out, stderr=tty_err)
    interactive.progress("#1 in_progress")
    interactive.log_line({"message": "hello"})
    interactive.clear_progress()
    assert tty_out.getvalue() == "hello\n"
    # drawn, lifted for the log line, drawn again, cleared at the end
    assert tty_err.getvalue() == (CLEAR_LINE + "#1 in_progress" + CLEAR_LINE) * 2


def test_json_mode_prints_log_messages_whole():
    out = io.StringIO()
    Output(json_mode=True, stdout=out).log_line({"message": "hi", "metadata": {"seq": "1"}})
    assert json.loads(out.getvalue()) == {"message": "hi", "metadata": {"seq": "1"}}


def test_errors_show_the_envelope_message_and_trace_id():
    err = io.StringIO()
    Output(stderr=err).error(
        ApiError("Build not found", status=404, code="NOT_FOUND", trace_id="abc123", details={"id": "x"})
    )
    assert err.getvalue() == "imagefactory: error: Build not found (HTTP 404, NOT_FOUND, trace_id abc123)\n  id: x\n"


def test_progress_text():
    build = {"build_number": 7, "status": "in_progress", "step_name": "build"}
    status = {"status": "in_progress", "progress": {"current_step": 2, "total_steps": 5, "percentage": 40}}
    assert progress_text(build, status) == "#7  in_progress  step 2/5 (40%)  build"


def test_cli_loads_nothing_of_the_server():
    # In the server's virtualenv, where all of it could be imported (test_cli_install.py shows the
    # CLI running with requests and websockets alone).
    server_side = {"django", "rest_framework", "channels", "celery", "daphne", "twisted", "psycopg", "redis"}
    probe = "import sys, json, imagefactory.cli.main; print(json.dumps(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = json.loads(run.stdout)
    assert {name.split(".")[0] for name in loaded} & server_side == set()
    server_modules = [
        name for name in loaded if name.startswith("imagefactory.") and not name.startswith("imagefactory.cli")
    ]
    assert server_modules == []


def test_follower_stops_at_the_deadline_even_while_lines_keep_coming():
    ticks = iter(range(100))
    client = Client(
        config.Config(server="http://h", token="t", tenant="00000000-0000-0000-0000-000000000001"),
        deadline=2,
        clock=lambda: next(ticks),  # every look at the clock is a second later
    )
    printed = []
    chatty = ScriptedSocket([line(n) for n in range(1, 50)], close_code=None)
    follower = LogFollower(
        client, "b", on_line=lambda m: printed.append(m["message"]), connect=lambda url, **kw: chatty
    )
    with pytest.raises(DeadlineExceeded):
        follower.follow()
    assert 0 < len(printed) < 49
