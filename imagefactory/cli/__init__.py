"""The `imagefactory` command line for CI jobs: only the standard library, requests and websockets.

config (flags and IMAGEFACTORY_* variables) → client (REST with retries and idempotency keys) →
stream (the WebSocket log, resumed with ?since=) → output (stdout for results, stderr for the rest)
→ main (the commands and exit codes). Installable alone: `pip install .` installs only this package.
"""
