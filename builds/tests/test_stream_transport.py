"""The back-pressure contract with daphne: what builds/stream/transport.py reads still means what it did.

It reads private attributes of daphne, autobahn and Twisted. If an upgrade renames or changes any of
them, the log stream silently stops throttling slow clients; this test makes that loud instead.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from importlib.metadata import version

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from builds.stream.transport import CLOSE_TRY_AGAIN_LATER, VERIFIED_WITH
from testing import ROOT, free_port, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def probe_server(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("probe") / "daphne.log"
    with open(log, "wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "testing.daphne_probe:application"],
            cwd=ROOT,
            stdout=output,
            stderr=output,
        )
    try:
        wait_until(
            lambda: b"Listening on TCP address" in log.read_bytes() or server.poll() is not None,
            timeout=30,
            what="the probe daphne to listen",
        )
        assert server.poll() is None, log.read_text()
        yield f"ws://127.0.0.1:{port}/"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_pinned_versions_are_the_verified_ones():
    installed = {name: version(name) for name in VERIFIED_WITH}
    assert installed == VERIFIED_WITH, (
        "daphne, Twisted or autobahn changed: re-verify builds/stream/transport.py against the new versions "
        "(this test module must pass), then update VERIFIED_WITH"
    )


def test_daphne_exposes_the_send_buffer_the_stream_throttles_on(probe_server):
    async def scenario():
        frames, close_code = [], None
        async with connect(probe_server, max_queue=1) as client:
            await client.send("stopped reading")
            await asyncio.sleep(1.5)  # not reading: the server's buffer must fill up
            try:
                async for frame in client:
                    frames.append(frame)
            except ConnectionClosed:
                pass
            close_code = client.close_code
        return frames, close_code

    frames, close_code = asyncio.run(scenario())

    report = json.loads(frames[-1])
    assert report["supported"], "daphne's send no longer leads to a Twisted transport with a send buffer"
    assert report["backlog_bytes"] > 0, f"the probe reads no backlog while the client does not read: {report}"
    assert report["backlog_bytes"] <= report["sent_bytes"]
    assert close_code == CLOSE_TRY_AGAIN_LATER, "autobahn's sendCloseFrame no longer closes with 1013"
