"""Prometheus instruments shared by every process: counters and histograms kept in Redis (services
mode) or in this process (embedded), plus the collectors apps register for scrape-time figures.

Why not prometheus-client's own multiprocess mode: builds are observed in Celery worker processes
(prefork children, on any number of hosts) and requests in any number of daphne processes. A
`PROMETHEUS_MULTIPROC_DIR` only joins processes of one host, and a port per worker would make the
operator find and scrape every worker. Here each observation is one pipelined Redis round trip
(HINCRBY on a hash), so every daphne's `/metrics` answers the same cluster-wide figures, whichever
process observed them. Figures the database knows (builds by status, queues, running builds) are
not counted at all but read at scrape time by collectors (builds/metrics.py), so they never drift.

Process gauges (open stream clients) are the exception: each process writes its own value with a
timestamp and refreshes it; a scrape sums the fresh ones, so a crashed process drops out.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from django.conf import settings
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

logger = logging.getLogger(__name__)

# A process that stopped refreshing its gauges this long ago is gone.
GAUGE_STALE_SECONDS = 60
GAUGE_REFRESH_SECONDS = 15


class Store(Protocol):
    def increment(self, key: str, amounts: dict[str, float]) -> None: ...
    def read(self, key: str) -> dict[str, float]: ...
    def set_process_value(self, key: str, process: str, value: float) -> None: ...
    def read_process_values(self, key: str) -> float: ...


class MemoryStore:
    """One process (the embedded server, unit tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hashes: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._process_values: dict[str, dict[str, float]] = defaultdict(dict)

    def increment(self, key: str, amounts: dict[str, float]) -> None:
        with self._lock:
            for field, amount in amounts.items():
                self._hashes[key][field] += amount

    def read(self, key: str) -> dict[str, float]:
        with self._lock:
            return dict(self._hashes[key])

    def set_process_value(self, key: str, process: str, value: float) -> None:
        with self._lock:
            self._process_values[key][process] = value

    def read_process_values(self, key: str) -> float:
        with self._lock:
            return sum(self._process_values[key].values())


class RedisStore:
    """Every process of the deployment, on REDIS_URL, under the deployment's key prefix."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis  # only services mode needs it

        # Short timeouts: an observation must never hold a request or a build up for long.
        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix

    def increment(self, key: str, amounts: dict[str, float]) -> None:
        pipeline = self._client.pipeline(transaction=False)
        for field, amount in amounts.items():
            if float(amount).is_integer():
                pipeline.hincrby(self._prefix + key, field, int(amount))
            else:
                pipeline.hincrbyfloat(self._prefix + key, field, amount)
        pipeline.execute()

    def read(self, key: str) -> dict[str, float]:
        return {field.decode(): float(value) for field, value in self._client.hgetall(self._prefix + key).items()}

    def set_process_value(self, key: str, process: str, value: float) -> None:
        self._client.hset(self._prefix + key, process, json.dumps([value, time.time()]))

    def read_process_values(self, key: str) -> float:
        total, stale, now = 0.0, [], time.time()
        for process, raw in self._client.hgetall(self._prefix + key).items():
            value, written_at = json.loads(raw)
            if now - written_at > GAUGE_STALE_SECONDS:
                stale.append(process)
            else:
                total += value
        if stale:
            self._client.hdel(self._prefix + key, *stale)
        return total


_store: Store | None = None
# After a failed write, observations are dropped for this long (an unreachable Redis would otherwise
# cost every request its connect timeout).
STORE_RETRY_SECONDS = 10
_store_down_until = float("-inf")
_store_lock = threading.Lock()


def store() -> Store:
    global _store
    with _store_lock:
        if _store is None:
            _store = (
                RedisStore(settings.REDIS_URL, settings.METRICS_KEY_PREFIX) if settings.SERVICES_MODE else MemoryStore()
            )
        return _store


def use_store(replacement: Store | None) -> None:
    """Unit tests: observe into `replacement` (None: the configured store again)."""
    global _store, _store_down_until
    with _store_lock:
        _store = replacement
        _store_down_until = float("-inf")


def _field(part: str, label_values: Iterable[str]) -> str:
    return json.dumps([part, *label_values])


class Instrument:
    kind = ""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        INSTRUMENTS.append(self)

    def _label_values(self, labels: dict[str, Any]) -> list[str]:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes the labels {self.labelnames}, got {sorted(labels)}")
        return [str(labels[name]) for name in self.labelnames]

    def _increment(self, amounts: dict[str, float]) -> None:
        global _store_down_until
        if time.monotonic() < _store_down_until:
            return  # the store failed a moment ago: drop observations rather than wait on it again
        try:
            store().increment(self.name, amounts)
        except Exception:  # metrics never fail (nor hold up for long) a request or a build
            _store_down_until = time.monotonic() + STORE_RETRY_SECONDS
            logger.warning(
                "could not record %s; dropping observations for %s s", self.name, STORE_RETRY_SECONDS, exc_info=True
            )

    def collect(self) -> Metric:
        raise NotImplementedError


class Counter(Instrument):
    kind = "counter"

    def inc(self, amount: float = 1, **labels: Any) -> None:
        if amount:
            self._increment({_field("total", self._label_values(labels)): amount})

    def collect(self) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for field, value in sorted(store().read(self.name).items()):
            _, *label_values = json.loads(field)
            family.add_metric(label_values, value)
        return family


class Histogram(Instrument):
    kind = "histogram"

    def __init__(
        self, name: str, documentation: str, labelnames: tuple[str, ...] = (), *, buckets: tuple[float, ...]
    ) -> None:
        super().__init__(name, documentation, labelnames)
        self.buckets = tuple(sorted(buckets))

    def observe(self, value: float, **labels: Any) -> None:
        label_values = self._label_values(labels)
        bucket = bisect.bisect_left(self.buckets, value)  # the first upper bound >= value; len(): +Inf
        self._increment(
            {
                _field(f"bucket:{bucket}", label_values): 1,
                _field("count", label_values): 1,
                _field("sum", label_values): value,
            }
        )

    def collect(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        series: dict[tuple[str, ...], dict[str, float]] = defaultdict(dict)
        for field, value in store().read(self.name).items():
            part, *label_values = json.loads(field)
            series[tuple(label_values)][part] = value
        for label_values, parts in sorted(series.items()):
            cumulative, buckets = 0.0, []
            for index, bound in enumerate((*self.buckets, float("inf"))):
                cumulative += parts.get(f"bucket:{index}", 0)
                buckets.append((floatToGoString(bound), cumulative))
            family.add_metric(list(label_values), buckets, parts.get("sum", 0.0))
        return family


class ProcessGauge(Instrument):
    """A value each process holds for itself (open connections); the scrape shows the sum over live
    processes. Changes are written by a thread of the process, so the caller (an event loop) never waits."""

    kind = "gauge"

    def __init__(self, name: str, documentation: str) -> None:
        super().__init__(name, documentation)
        self._lock = threading.Lock()
        self._value = 0
        self._changed = threading.Event()
        self._writer_pid: int | None = None

    def inc(self, amount: int = 1) -> None:
        with self._lock:
            self._value += amount
            if self._writer_pid != os.getpid():  # first change in this process (or a forked child)
                self._writer_pid = os.getpid()
                threading.Thread(target=self._write_forever, name=f"metrics-{self.name}", daemon=True).start()
        self._changed.set()

    def dec(self, amount: int = 1) -> None:
        self.inc(-amount)

    @property
    def value(self) -> int:
        return self._value

    def _write_forever(self) -> None:
        process = f"{socket.gethostname()}:{os.getpid()}"
        while True:
            self._changed.wait(GAUGE_REFRESH_SECONDS)  # at once after a change, and as a heartbeat
            self._changed.clear()
            try:
                store().set_process_value(self.name, process, self._value)
            except Exception:
                logger.warning("could not record %s", self.name, exc_info=True)

    def collect(self) -> Metric:
        family = GaugeMetricFamily(self.name, self.documentation)
        family.add_metric([], store().read_process_values(self.name))
        return family


INSTRUMENTS: list[Instrument] = []

HTTP_REQUEST_DURATION = Histogram(
    "imagefactory_http_request_duration_seconds",
    "HTTP requests by route (the URL pattern), method and status code, and how long they took",
    ("route", "method", "status"),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BUILD_DURATION = Histogram(
    "imagefactory_build_duration_seconds",
    "How long a worker ran a build (slot acquired to end), by the status it ended with",
    ("status",),
    buckets=(5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400),
)
BUILD_TIME_TO_FIRST_LINE = Histogram(
    "imagefactory_build_time_to_first_line_seconds",
    "From a build's start request to the first log line of the worker running it",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
BUILD_LOG_LINES = Counter("imagefactory_build_log_lines_total", "Build log lines stored")
STREAM_CLIENTS = ProcessGauge("imagefactory_stream_clients", "Open WebSocket log streams")


# --- scrape-time collectors of the apps (the core imports no app: they register here) -------
COLLECTORS: list[Callable[[], Iterable[Metric]]] = []


def register_collector(collector: Callable[[], Iterable[Metric]]) -> None:
    if collector not in COLLECTORS:
        COLLECTORS.append(collector)


class ImageFactoryCollector:
    """The prometheus-client collector of /metrics: every instrument, then the apps' collectors."""

    def collect(self) -> Iterator[Metric]:
        # One unreachable source (Redis, the database) leaves its metrics out, not the whole scrape.
        for instrument in INSTRUMENTS:
            try:
                family = instrument.collect()
            except Exception:
                logger.warning("could not read %s", instrument.name, exc_info=True)
                continue
            yield family
        for collector in COLLECTORS:
            try:
                families = list(collector())
            except Exception:
                logger.warning("metrics collector %s failed", collector.__qualname__, exc_info=True)
                continue
            yield from families
