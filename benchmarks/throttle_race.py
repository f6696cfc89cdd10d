"""Why the API's rate limiter is not DRF's SimpleRateThrottle: requests let through under concurrency.

A script run by hand, not a test. N threads, released together, each ask for one request in a
bucket of limit L held in the shared cache (Redis with REDIS_URL set, else the in-process cache).
A correct limiter lets exactly L through. DRF's SimpleRateThrottle reads the request history,
appends, and writes it back (get + set, not atomic), so concurrent requests overwrite each other's
history and more than L pass; imagefactory.core.ratelimit.hit counts with an atomic INCR.

Usage: REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python benchmarks/throttle_race.py [--threads 50 --limit 10]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import uuid

import _bootstrap  # noqa: F401 — environment defaults and sys.path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=50)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from rest_framework.throttling import SimpleRateThrottle

    from imagefactory.core.ratelimit import hit

    class Throttle(SimpleRateThrottle):
        rate = f"{args.limit}/hour"

        def __init__(self, scope: str):
            super().__init__()
            self.scope_key = scope

        def get_cache_key(self, request, view):
            return self.scope_key

    def race(admit) -> int:
        barrier, admitted, lock = threading.Barrier(args.threads), [0], threading.Lock()

        def one():
            barrier.wait()
            if admit():
                with lock:
                    admitted[0] += 1

        threads = [threading.Thread(target=one) for _ in range(args.threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return admitted[0]

    drf, ours = [], []
    for _ in range(args.rounds):
        scope = f"throttle-race:{uuid.uuid4().hex}"
        drf.append(race(lambda scope=scope: Throttle(scope).allow_request(None, None)))
        scope = f"throttle-race:{uuid.uuid4().hex}"
        ours.append(race(lambda scope=scope: not hit(scope, limit=args.limit, window_seconds=3600).exceeded))
    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    print(f"{args.threads} concurrent requests, limit {args.limit}, {args.rounds} rounds, cache {backend}")
    print(f"{'limiter':<32} {'min':>5} {'median':>7} {'max':>5}  (admitted; correct = {args.limit})")
    for name, counts in (("DRF SimpleRateThrottle", drf), ("imagefactory.core.ratelimit.hit", ours)):
        print(f"{name:<32} {min(counts):>5} {statistics.median(counts):>7} {max(counts):>5}")


if __name__ == "__main__":
    main()
