"""The real-services test harness: git repositories, a registry, daphne/Celery stacks, assertions.

Test support, not application code: nothing under the apps imports it; tests and benchmarks do.
It does not need pytest (benchmarks run without it).
"""

from testing.assertions import access_token_for, assert_envelope, stable_bytes
from testing.git import BUSYBOX, BUSYBOX_DOCKERFILE, GIT_ENV, GitRepo, run_step
from testing.metrics import Scrape
from testing.processes import kill_processes_matching, processes_matching
from testing.proxy import TcpProxy
from testing.receiver import Received, TcpListener, WebhookReceiver
from testing.redis import RedisServer
from testing.registry import Registry
from testing.stack import FAST_ENGINE_ENV, ROOT, Stack, StackClient, database_url_for_subprocess
from testing.tools import POSTGRES_ONLY, SERVICES_ONLY, MissingTool, need, need_postgres, need_services
from testing.util import free_port, unique_token, wait_until

__all__ = [
    "BUSYBOX",
    "BUSYBOX_DOCKERFILE",
    "FAST_ENGINE_ENV",
    "GIT_ENV",
    "POSTGRES_ONLY",
    "SERVICES_ONLY",
    "ROOT",
    "GitRepo",
    "MissingTool",
    "Received",
    "RedisServer",
    "Registry",
    "Scrape",
    "Stack",
    "StackClient",
    "TcpListener",
    "TcpProxy",
    "WebhookReceiver",
    "access_token_for",
    "assert_envelope",
    "database_url_for_subprocess",
    "free_port",
    "kill_processes_matching",
    "need",
    "need_postgres",
    "need_services",
    "processes_matching",
    "run_step",
    "stable_bytes",
    "unique_token",
    "wait_until",
]
