"""Settings for ImageFactory, read from the environment (see README "Configuration")."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from redis.exceptions import ConnectionError as RedisConnectionError

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("IMAGEFACTORY_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

REDIS_URL = os.environ.get("REDIS_URL", "")
SERVICES_MODE = bool(REDIS_URL)


def stored_secret_key(path: Path) -> str:
    """The key in `path`, made on first start: random, readable by this user only (0600).

    Created next to it and linked into place, so two processes starting at once agree on one key.
    """
    if not path.exists():
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if SERVICES_MODE:
        # Servers and workers on several hosts must share one key (tokens, stored credentials).
        raise ImproperlyConfigured("SECRET_KEY is not set. In services mode every process needs the same SECRET_KEY.")
    SECRET_KEY = stored_secret_key(VAR_DIR / "secret_key")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
# Keys for credentials stored in the database; the first encrypts, all decrypt (rotation).
# Empty: SECRET_KEY. To rotate SECRET_KEY, list the old one here after the new one.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    # Before rest_framework: web/templates/rest_framework/api.html is the browsable API's navbar.
    "web",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc as static files of this server
    "channels",
    "accounts",
    "tenants",
    "builds",
    "triggers",
    "webhooks",
]

MIDDLEWARE = [
    "imagefactory.core.middleware.RequestIdMiddleware",
    # Right inside the request context: times everything below, logs its access line with the ids.
    "imagefactory.core.metrics_http.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "imagefactory.core.middleware.ApiErrorMiddleware",
    "imagefactory.core.ratelimit.RateLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "imagefactory.urls"
ASGI_APPLICATION = "imagefactory.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "imagefactory" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "web.context_processors.tenancy",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'imagefactory.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at BEGIN,
    # so two writers queue on the busy timeout instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # The web server pools its connections (imagefactory/asgi.py sets DATABASE_POOL_SIZE): each
    # request ran in a thread of its own and opened a connection, 3.5 ms of a 12 ms request.
    # Processes that fork (Celery's prefork workers) keep one connection per task instead: a pool
    # does not survive a fork. A request that waits DATABASE_POOL_TIMEOUT seconds for a connection
    # (the database refusing them, or all of them busy) gets a 503 with Retry-After.
    if env_int("DATABASE_POOL_SIZE", 0) > 0:
        DATABASES["default"]["OPTIONS"] = {
            "pool": {
                "min_size": 1,
                "max_size": env_int("DATABASE_POOL_SIZE", 0),
                "timeout": env_int("DATABASE_POOL_TIMEOUT", 3),
            }
        }
USES_SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

# --- Redis: cache, channel layer, Celery ----------------------------------------------
if SERVICES_MODE:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "imagefactory"),
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 reads with a 5 s socket timeout by default, the same as channels-redis's
                # 5 s BZPOPMIN: an idle consumer (a queued build's stream) then died with TimeoutError.
                # retry_on_error: after a Redis restart every pooled connection is dead; without a
                # retry each one failed its next command once (a stream refused for nothing).
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": env_int("CHANNEL_REDIS_SOCKET_TIMEOUT", 30),
                        "retry_on_error": [ConnectionError, RedisConnectionError],
                    }
                ],
                "capacity": env_int("CHANNEL_CAPACITY", 2000),
                "prefix": os.environ.get("CHANNEL_PREFIX", "imagefactory"),
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": env_int("CHANNEL_CAPACITY", 2000)},
        }
    }

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = False  # a build must never run twice: ack on receipt
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
BUILD_QUEUE = os.environ.get("BUILD_QUEUE", "builds")
CELERY_TASK_DEFAULT_QUEUE = BUILD_QUEUE
WEBHOOK_QUEUE = os.environ.get("WEBHOOK_QUEUE", "webhooks")
CELERY_TASK_ROUTES = {"builds.*": {"queue": BUILD_QUEUE}, "webhooks.*": {"queue": WEBHOOK_QUEUE}}
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 24 * 3600}

# --- REST framework, JWT, schema ------------------------------------------------------
REST_FRAMEWORK = {
    # Bearer tokens first (CI clients; its header names the 401's WWW-Authenticate), then the
    # browser's session, whose writes DRF checks against CSRF.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.AccessTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.permissions.TenantPermission"],
    # JSON first: it answers every client that does not ask for text/html (DEBUG or not).
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "imagefactory.core.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "imagefactory.core.schema.TenantAutoSchema",
    "UNAUTHENTICATED_USER": None,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env_int("JWT_ACCESS_LIFETIME_SECONDS", 15 * 60)),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=env_int("JWT_REFRESH_LIFETIME_SECONDS", 7 * 86400)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "SIGNING_KEY": SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "ImageFactory Build Execution API",
    "DESCRIPTION": (
        "Multi-tenant container image builds. Every operation except /auth/* needs "
        "`Authorization: Bearer <access token>` and `X-Tenant-ID: <tenant uuid>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # The schema is for API clients: tokens. Browser sessions (web UI, browsable API) also work,
    # with CSRF, but are not what a client codes against.
    "AUTHENTICATION_WHITELIST": ["accounts.authentication.AccessTokenAuthentication"],
    "OAS_VERSION": "3.1.0",
    # The docs pages load nothing from outside this server (imagefactory/api_docs.py).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {
        "validatorUrl": None,  # the default sends the schema to validator.swagger.io
        "deepLinking": True,
        "tryItOutEnabled": True,
        "displayRequestDuration": True,
    },
    "ENUM_NAME_OVERRIDES": {
        "BuildStatusEnum": "builds.models.BuildStatus",
        # Two fields named "outcome": a push delivery's and a webhook attempt's.
        "TriggerDeliveryOutcomeEnum": "triggers.models.DeliveryOutcome",
        "WebhookAttemptOutcomeEnum": "webhooks.models.AttemptOutcome",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "imagefactory.core.schema.add_response_headers",
        "imagefactory.core.schema.declare_security",
    ],
}

# --- Security -------------------------------------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 1024 * 1024)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SILENCED_SYSTEM_CHECKS = [
    # TLS is terminated by the reverse proxy in front of daphne; these are opt-in above.
    "security.W004",
    "security.W008",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"  # collectstatic's target; WhiteNoise also serves from the apps (FINDERS)
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every request about a missing STATIC_ROOT
WHITENOISE_USE_FINDERS = True

# --- Browser sessions (web UI, browsable API) -----------------------------------------
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"

# --- Logging: every line carries the request's trace id -------------------------------
# LOG_FORMAT=json: one JSON object per line (imagefactory/core/logging.py); default: text for people.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "imagefactory.core.logging.ContextFilter"}},
    "formatters": {
        "text": {
            "format": "%(asctime)s %(levelname)s %(name)s trace_id=%(trace_id)s "
            "tenant_id=%(tenant_id)s build_id=%(build_id)s user_id=%(user_id)s %(message)s"
        },
        "json": {"()": "imagefactory.core.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}, "daphne": {"level": "WARNING"}},
}

# --- Metrics (README "Metrics") --------------------------------------------------------
# GET /metrics answers 404 while this is empty; set, it requires "Authorization: Bearer <token>".
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# Counters and histograms shared by every process live in Redis under this prefix (services mode).
METRICS_KEY_PREFIX = os.environ.get("CACHE_KEY_PREFIX", "imagefactory") + ":metrics:"

# --- ImageFactory ---------------------------------------------------------------------
IMAGEFACTORY_API_URL = os.environ.get("IMAGEFACTORY_API_URL", "http://localhost:8080/api/v1")
# file:// repositories are accepted only under these directories (any mode); the embedded default
# lists the demo's own repository (manage.py bootstrap_demo), services mode none.
FILE_REPOSITORY_ROOTS = [
    os.path.normpath(os.path.abspath(root))
    for root in env_list("FILE_REPOSITORY_ROOTS", "" if SERVICES_MODE else str(VAR_DIR / "demo-repo"))
]
MAX_BUILD_TIMEOUT_SECONDS = env_int("MAX_BUILD_TIMEOUT_SECONDS", 4 * 3600)
DEFAULT_BUILD_TIMEOUT_SECONDS = 1800

RATE_LIMIT_REQUESTS = env_int("RATE_LIMIT_REQUESTS", 1000)
RATE_LIMIT_WINDOW_SECONDS = env_int("RATE_LIMIT_WINDOW_SECONDS", 60)
# Push hook deliveries (POST /api/v1/hooks/{trigger_id}), per trigger and per client address, in one
# window; and the largest body a delivery may have (GitHub caps its payloads at 25 MB, but a push of
# a normal size is a few KiB).
HOOK_RATE_LIMIT = env_int("HOOK_RATE_LIMIT", 60)
HOOK_ADDRESS_RATE_LIMIT = env_int("HOOK_ADDRESS_RATE_LIMIT", 300)
HOOK_RATE_WINDOW_SECONDS = env_int("HOOK_RATE_WINDOW_SECONDS", 60)
HOOK_MAX_BODY_BYTES = env_int("HOOK_MAX_BODY_BYTES", 1024 * 1024)
# Per user across all tenants: a ceiling, so that varying X-Tenant-ID cannot multiply the limit.
RATE_LIMIT_USER_REQUESTS = env_int("RATE_LIMIT_USER_REQUESTS", 5 * RATE_LIMIT_REQUESTS)
# Failed logins per (email, client address), and per client address, in one window.
LOGIN_RATE_LIMIT = env_int("LOGIN_RATE_LIMIT", 10)
LOGIN_ADDRESS_RATE_LIMIT = env_int("LOGIN_ADDRESS_RATE_LIMIT", 10 * LOGIN_RATE_LIMIT)
LOGIN_RATE_WINDOW_SECONDS = env_int("LOGIN_RATE_WINDOW_SECONDS", 60)
# Who the client is behind a reverse proxy (imagefactory/core/ratelimit.py, client_address):
# X-Forwarded-For is believed only for this many proxies, or only as far as these networks.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
TRUSTED_PROXY_NETWORKS = env_list("TRUSTED_PROXY_NETWORKS")
# Off unless listed: a page on another origin cannot call the API with a user's browser session.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_HEADERS = ["authorization", "content-type", "idempotency-key", "x-request-id", "x-tenant-id"]
CORS_EXPOSE_HEADERS = ["x-request-id", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after"]
DEFAULT_MAX_QUEUED_BUILDS = env_int("DEFAULT_MAX_QUEUED_BUILDS", 100)
DEFAULT_MAX_RUNNING_BUILDS = env_int("DEFAULT_MAX_RUNNING_BUILDS", 4)
IDEMPOTENCY_TTL_SECONDS = 24 * 3600

# Build engine
BUILD_WORKERS = env_int("BUILD_WORKERS", 2)  # in-process pool size, embedded mode only
# Embedded mode: threads per job queue inside the server process (imagefactory/core/jobs.py).
EMBEDDED_QUEUE_WORKERS = {BUILD_QUEUE: BUILD_WORKERS, WEBHOOK_QUEUE: env_int("WEBHOOK_WORKERS", 2)}
BUILD_EXECUTOR = os.environ.get("BUILD_EXECUTOR", "builds.executors.buildah.BuildahExecutor")
BUILD_WORKSPACE_ROOT = Path(os.environ.get("BUILD_WORKSPACE_ROOT", VAR_DIR / "workspaces"))
BUILDAH_BINARY = os.environ.get("BUILDAH_BINARY", "buildah")
BUILDAH_STORAGE_DRIVER = os.environ.get("BUILDAH_STORAGE_DRIVER", "vfs")
# The build sandbox (README, "Build sandbox"): "oci" runs every RUN step under runc in its own
# namespaces as an unprivileged range of host ids; "chroot" is no sandbox (an explicit opt-in).
BUILD_ISOLATION = os.environ.get("BUILD_ISOLATION", "oci")
BUILD_OCI_RUNTIME = os.environ.get("BUILD_OCI_RUNTIME", "runc")
BUILD_NETWORK = os.environ.get("BUILD_NETWORK", "private")  # or "none" (air-gapped builders)
BUILD_MEMORY_LIMIT = os.environ.get("BUILD_MEMORY_LIMIT", "4g")  # per RUN step; empty: none
BUILD_CPU_LIMIT = float(os.environ.get("BUILD_CPU_LIMIT", "2") or 0)  # cores per RUN step; 0: none
BUILD_PIDS_LIMIT = env_int("BUILD_PIDS_LIMIT", 4096)  # processes of a whole build; 0: none
# Pinned SSH host keys (known_hosts lines) for ssh:// repositories; empty: trust on first use, per build.
SSH_KNOWN_HOSTS = os.environ.get("SSH_KNOWN_HOSTS", "")
BUILDAH_STORAGE_ROOT = os.environ.get("BUILDAH_STORAGE_ROOT", str(VAR_DIR / "buildah" / "storage"))
BUILDAH_RUN_ROOT = os.environ.get("BUILDAH_RUN_ROOT", str(VAR_DIR / "buildah" / "run"))
BUILD_CACHE_MAX_BYTES = env_int("BUILD_CACHE_MAX_BYTES", 10 * 1024**3)
BUILD_CACHE_CHECK_SECONDS = env_int("BUILD_CACHE_CHECK_SECONDS", 300)
INSECURE_REGISTRIES = env_list("INSECURE_REGISTRIES")
BUILD_HEARTBEAT_SECONDS = float(os.environ.get("BUILD_HEARTBEAT_SECONDS", "5"))
BUILD_CANCEL_POLL_SECONDS = float(os.environ.get("BUILD_CANCEL_POLL_SECONDS", "1"))
BUILD_KILL_GRACE_SECONDS = float(os.environ.get("BUILD_KILL_GRACE_SECONDS", "2"))
BUILD_LOST_AFTER_SECONDS = env_int("BUILD_LOST_AFTER_SECONDS", 60)
BUILD_REAPER_INTERVAL_SECONDS = env_int("BUILD_REAPER_INTERVAL_SECONDS", 15)
BUILD_LOG_MAX_LINES = env_int("BUILD_LOG_MAX_LINES", 50_000)
BUILD_LOG_MAX_BYTES = env_int("BUILD_LOG_MAX_BYTES", 10 * 1024 * 1024)
BUILD_LOG_FLUSH_SECONDS = float(os.environ.get("BUILD_LOG_FLUSH_SECONDS", "0.05"))
BUILD_LOG_MAX_LINE_BYTES = env_int("BUILD_LOG_MAX_LINE_BYTES", 16 * 1024)  # longer lines are cut, with a marker

# Log streaming (WebSocket)
STREAM_STATUS_POLL_SECONDS = float(os.environ.get("STREAM_STATUS_POLL_SECONDS", "5"))
# An open stream checks its client's access again this often (token expiry, revocation, membership);
# membership and revocation changes are also pushed to it at once through the channel layer.
STREAM_ACCESS_CHECK_SECONDS = float(os.environ.get("STREAM_ACCESS_CHECK_SECONDS", "5"))
STREAM_MAX_CONNECTIONS_PER_USER = env_int("STREAM_MAX_CONNECTIONS_PER_USER", 20)
# Lines are published before they are stored: a gap the store lacks this long is skipped (it never comes).
STREAM_GAP_GRACE_SECONDS = float(os.environ.get("STREAM_GAP_GRACE_SECONDS", "3"))
# A client is closed with 1013 when the build is this many lines ahead of what could be written to it.
STREAM_MAX_LAG_LINES = env_int("STREAM_MAX_LAG_LINES", 1000)
# Per client: bytes left waiting in daphne's (Twisted's) buffer before the consumer pauses writing.
STREAM_SEND_BUFFER_BYTES = env_int("STREAM_SEND_BUFFER_BYTES", 256 * 1024)
# Per client: the kernel's SO_SNDBUF, kept small so that the backlog stays where the consumer sees it.
STREAM_SOCKET_SNDBUF_BYTES = env_int("STREAM_SOCKET_SNDBUF_BYTES", 64 * 1024)
STREAM_DRAIN_POLL_SECONDS = float(os.environ.get("STREAM_DRAIN_POLL_SECONDS", "0.02"))
# A build cancelled while running: how long to wait for its worker's last lines and end event.
STREAM_END_GRACE_SECONDS = float(os.environ.get("STREAM_END_GRACE_SECONDS", "10"))
# A client closed with 1013 gets this long to read its backlog and answer the close frame.
STREAM_CLOSE_GRACE_SECONDS = float(os.environ.get("STREAM_CLOSE_GRACE_SECONDS", "10"))

# Outgoing webhooks (webhooks/, README "Webhooks")
# Targets resolving into loopback, link-local, private, unique-local or other special ranges are
# refused unless inside one of these networks (CIDRs), e.g. an internal CI server's.
WEBHOOK_ALLOWED_NETWORKS = env_list("WEBHOOK_ALLOWED_NETWORKS")
WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "10"))
# Retry n waits about base * 2**(n-1) seconds (half of it random), at most WEBHOOK_RETRY_MAX_DELAY_SECONDS,
# until the delivery is WEBHOOK_RETRY_FOR_SECONDS old; then it is failed.
WEBHOOK_RETRY_BASE_SECONDS = float(os.environ.get("WEBHOOK_RETRY_BASE_SECONDS", "30"))
WEBHOOK_RETRY_MAX_DELAY_SECONDS = float(os.environ.get("WEBHOOK_RETRY_MAX_DELAY_SECONDS", "3600"))
WEBHOOK_RETRY_FOR_SECONDS = env_int("WEBHOOK_RETRY_FOR_SECONDS", 24 * 3600)
# A subscription whose deliveries failed for this long without a success in between is disabled.
WEBHOOK_DISABLE_AFTER_SECONDS = env_int("WEBHOOK_DISABLE_AFTER_SECONDS", 24 * 3600)
# The safety net: every worker (and the embedded server) re-queues deliveries whose retry was lost.
WEBHOOK_SWEEP_INTERVAL_SECONDS = float(os.environ.get("WEBHOOK_SWEEP_INTERVAL_SECONDS", "30"))
