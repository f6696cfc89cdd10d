"""A TCP proxy on loopback in front of a Stack, to break connections the way a network does.

`cut()` drops every open connection at once (a client in the middle of a WebSocket stream sees
its connection reset); `swallow_response_to(prefix)` lets the next request starting with those
bytes reach the server, then drops the connection before the answer gets back (the client cannot
know whether its request was carried out: the case Idempotency-Key exists for);
`go_dark_at(prefix)` makes the next request starting with those bytes the last: it is dropped,
every open connection too, and new ones are closed at once (a server that went away mid-exchange).
"""

from __future__ import annotations

import socket
import threading


class _Pair:
    def __init__(self, client: socket.socket, upstream: socket.socket):
        self.client = client
        self.upstream = upstream
        self.swallow = False  # drop the connection when the answer arrives
        self.first_line = b""

    def close(self) -> None:
        for sock in (self.client, self.upstream):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


class TcpProxy:
    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.open: list[_Pair] = []
        self.request_heads: list[bytes] = []  # request line and headers of every request seen, in order
        self.swallow_prefix: bytes | None = None
        self.dark_prefix: bytes | None = None
        self.dark = False
        self.swallowed = 0
        self.cuts = 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut(self) -> int:
        """Drops every open connection; returns how many."""
        with self.lock:
            pairs, self.open = self.open, []
            self.cuts += 1
        for pair in pairs:
            pair.close()
        return len(pairs)

    def swallow_response_to(self, prefix: bytes) -> None:
        with self.lock:
            self.swallow_prefix = prefix

    def go_dark_at(self, prefix: bytes) -> None:
        with self.lock:
            self.dark_prefix = prefix

    def requests_starting(self, prefix: bytes) -> list[bytes]:
        """The heads (request line and headers) of the requests whose line starts with `prefix`."""
        with self.lock:
            return [head for head in self.request_heads if head.startswith(prefix)]

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        self.cut()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.dark:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            pair = _Pair(client, upstream)
            with self.lock:
                self.open.append(pair)
            threading.Thread(target=self._client_to_upstream, args=(pair,), daemon=True).start()
            threading.Thread(target=self._upstream_to_client, args=(pair,), daemon=True).start()

    def _client_to_upstream(self, pair: _Pair) -> None:
        try:
            while data := pair.client.recv(65536):
                if data[:8].split(b" ", 1)[0] in (b"GET", b"POST", b"PUT", b"PATCH", b"DELETE", b"HEAD"):
                    head = data.split(b"\r\n\r\n", 1)[0]
                    with self.lock:
                        self.request_heads.append(head)
                        if self.swallow_prefix is not None and head.startswith(self.swallow_prefix):
                            self.swallow_prefix = None
                            pair.swallow = True
                        if self.dark_prefix is not None and head.startswith(self.dark_prefix):
                            self.dark = True
                    if self.dark:
                        self.cut()
                        break
                pair.upstream.sendall(data)
        except OSError:
            pass
        self._drop(pair)

    def _upstream_to_client(self, pair: _Pair) -> None:
        try:
            while data := pair.upstream.recv(65536):
                if pair.swallow:
                    with self.lock:
                        self.swallowed += 1
                    break
                pair.client.sendall(data)
        except OSError:
            pass
        self._drop(pair)

    def _drop(self, pair: _Pair) -> None:
        with self.lock:
            if pair in self.open:
                self.open.remove(pair)
        pair.close()
