"""Berth's one settings module. Every value comes from the environment (see README, Configuration)."""

import socket
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from berth.env import env_bool, env_int, env_list, env_mapping, env_networks, env_str, env_warm_pool

BASE_DIR = Path(__file__).resolve().parent.parent.parent  # the repository root
DATA_DIR = Path(env_str("BERTH_DATA_DIR", str(BASE_DIR / "var")))

DEV_SECRET_KEY = "berth-development-key-do-not-use-in-production"
DEBUG = env_bool("DEBUG", False)
# The key scripts/up made for this install (var/secret_key), so that `manage.py <command>` needs
# no variables after it; SECRET_KEY or SECRET_KEY_FILE win over it.
LOCAL_SECRET_KEY = DATA_DIR / "secret_key"
SECRET_KEY = env_str("SECRET_KEY") or (
    LOCAL_SECRET_KEY.read_text().strip() if LOCAL_SECRET_KEY.is_file() else DEV_SECRET_KEY
)
# This machine's own names by default: a site served under another name lists it here.
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", f"localhost,127.0.0.1,[::1],{socket.gethostname()}")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

if not DEBUG:
    if SECRET_KEY == DEV_SECRET_KEY or not SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured(
            "DEBUG is off but SECRET_KEY is unset, too short or the development key: "
            "set SECRET_KEY (or SECRET_KEY_FILE) to a long random value."
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS is empty: list the host names Berth serves.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "channels",
    "accounts",
    "course",
    "labs",
    "classes",  # before sandboxes: the roles are given their permissions after sandboxes migrates
    "sandboxes",
    "terminals",
    "console",
    "studio",
    "workspace",
    # single sign-on (OpenID Connect) through django-allauth's social accounts only: Berth's own
    # login and signup stay the local ones (accounts/)
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    # Berth as an LTI 1.3 tool: the platforms it trusts (pylti1p3's models), launches and grades
    "pylti1p3.contrib.django.lti1p3_tool_config",
    "lti",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "berth.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "berth.urls"
ASGI_APPLICATION = "berth.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.roles.nav_links",
            ],
        },
    },
]

# SQLite is the embedded default; production sets DATABASE_URL=postgres://...
DATABASES = {
    "default": dj_database_url.parse(env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'berth.sqlite3'}"), conn_max_age=0)
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, workers, relay) share the file: WAL and immediate transactions
    # turn lock contention into short waits instead of "database is locked" errors.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=wal; PRAGMA synchronous=normal;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-berth.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

# Single sign-on: one OpenID Connect identity provider, configured by BERTH_OIDC_* (off unless
# BERTH_OIDC_SERVER_URL is set). A user's role follows a claim of theirs (a list of groups) at
# every sign-in, through BERTH_OIDC_ROLES ("their-group=instructor,...": accounts/sso.py).
OIDC_SERVER_URL = env_str("BERTH_OIDC_SERVER_URL", "")
OIDC_PROVIDER_ID = "sso"
OIDC_ROLE_CLAIM = env_str("BERTH_OIDC_ROLE_CLAIM", "groups")
OIDC_ROLES = env_mapping("BERTH_OIDC_ROLES", "")
if set(OIDC_ROLES.values()) - {"learner", "instructor", "admin"}:
    raise ImproperlyConfigured(f"BERTH_OIDC_ROLES: roles are learner, instructor or admin, not {OIDC_ROLES}")
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {
        "OAUTH_PKCE_ENABLED": True,
        "SCOPE": env_list("BERTH_OIDC_SCOPES", "openid,profile,email,groups"),
        "APPS": [
            {
                "provider_id": OIDC_PROVIDER_ID,
                "name": env_str("BERTH_OIDC_NAME", "Single sign-on"),
                "client_id": env_str("BERTH_OIDC_CLIENT_ID", ""),
                "secret": env_str("BERTH_OIDC_CLIENT_SECRET", ""),
                "settings": {"server_url": OIDC_SERVER_URL, "fetch_userinfo": True},
            }
        ]
        if OIDC_SERVER_URL
        else [],
    }
}
SOCIALACCOUNT_ONLY = True  # allauth's own password login and signup are not used: Berth has its own
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_LOGIN_ON_GET = False  # starting a sign-in is a POST (a page cannot sign you in elsewhere)
SOCIALACCOUNT_ADAPTER = "accounts.sso.SocialAccountAdapter"
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_USER_MODEL_USERNAME_FIELD = "username"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
# Front-end libraries come from npm at set-up time (scripts/setup copies their dist files here).
VENDOR_DIR = BASE_DIR / "build" / "vendor"
STATICFILES_DIRS = [BASE_DIR / "static", ("vendor", VENDOR_DIR)]
SERVE_STATIC = env_bool("BERTH_SERVE_STATIC", True)

SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG and env_bool("BERTH_HTTPS", False))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True

# Redis carries the channel layer (websockets), Celery's broker and its results.
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "berth.channel_layer.FewerTripsRedisChannelLayer",  # channels_redis, fewer round trips
        "CONFIG": {
            # redis-py 8 reads with a 5 s socket timeout by default, the same as channels_redis's
            # blocking receive: every idle receive would fail. Give reads room beyond it.
            # redis-py 8 also caps a pool at 100 connections and fails (not waits) past it: with
            # a few hundred typists a web process sends that many at once (bench/keystroke_echo).
            "hosts": [
                {
                    "address": env_str("CHANNEL_REDIS_URL", REDIS_URL),
                    "socket_timeout": 30,
                    "max_connections": env_int("BERTH_REDIS_MAX_CONNECTIONS", 2000, minimum=10),
                }
            ],
            "prefix": env_str("BERTH_CHANNEL_PREFIX", "berth"),
            "capacity": 200,
            # Every keystroke of a Docker host's learners goes through its relay's one channel, and
            # every socket of a web process shares that process's inbox: room for bursts. (A
            # viewer's own backlog is bounded by the relay's acknowledgement window instead.)
            "channel_capacity": {"terminal-relay.*": 5000, "specific.*": 5000},
            "expiry": 30,
        },
    }
}

CACHES = {  # shared by every web process: login throttling counts across them
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env_str("CACHE_REDIS_URL", REDIS_URL),
        "KEY_PREFIX": env_str("BERTH_CHANNEL_PREFIX", "berth") + "-cache",
    }
}
# GET /metrics (console/metrics.py): from these addresses, or with "Authorization: Bearer <token>".
METRICS_ALLOW = env_networks("BERTH_METRICS_ALLOW", "127.0.0.1,::1")
METRICS_TOKEN = env_str("BERTH_METRICS_TOKEN", "") or ""
LOGIN_FAILURES_ALLOWED = env_int("BERTH_LOGIN_FAILURES", 5, minimum=1)  # per username, and per address
LOGIN_LOCKOUT_SECONDS = env_int("BERTH_LOGIN_LOCKOUT_SECONDS", 300, minimum=1)

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "berth"
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# Content rot caught early: every published lab is self-tested this often (studio/selftests.py).
SELFTEST_HOURS = env_int("BERTH_SELFTEST_HOURS", 24, minimum=1)
# How often each host's worker samples its sandboxes (the console's figures, sandboxes/pressure.py):
# from their cgroups, a second for the whole host, on a local engine.
SAMPLE_SECONDS = 5.0
# Between samples, how often each host's worker reads only its sandboxes' process counts, to hold
# a fork bomb while it grows (sandboxes/capwatch.py), and how often it lists them again. Off only
# where something else drives it: the test suite's stacks share the tests' database.
CAP_WATCH = env_bool("BERTH_CAP_WATCH", True)
CAP_WATCH_SECONDS = 0.1
CAP_WATCH_LIST_SECONDS = 1.0
CELERY_BEAT_SCHEDULE = {
    "reap-sandboxes": {"task": "sandboxes.tasks.reap_sandboxes", "schedule": 60.0},
    "refill-warm-pools": {"task": "sandboxes.tasks.refill_pools", "schedule": 20.0},
    "dispatch-waiting-sessions": {"task": "sandboxes.tasks.dispatch_waiting_task", "schedule": 10.0},
    "sample-hosts": {"task": "sandboxes.tasks.sample_hosts", "schedule": SAMPLE_SECONDS},
    "sample-live-count": {"task": "console.tasks.sample_live_count", "schedule": 300.0},
    "self-test-published-labs": {
        "task": "studio.tasks.self_test_published_labs",
        "schedule": SELFTEST_HOURS * 3600.0,
    },
    "close-interrupted-self-tests": {"task": "studio.tasks.close_interrupted_self_tests", "schedule": 60.0},
}
CELERY_TASK_ALWAYS_EAGER = False

# --- Sandboxes ---------------------------------------------------------------------------
# Docker engines, as name=url pairs; each is served by its own Celery queue "sandboxes.<name>".
# The default is the engine scripts/up starts for Berth (btrfs data root: per-sandbox disk quotas).
DOCKER_HOSTS = env_mapping("BERTH_DOCKER_HOSTS", "local=unix:///run/berth/docker.sock")
SANDBOX_BACKEND = env_str("BERTH_SANDBOX_BACKEND", "sandboxes.backends.docker.DockerBackend")
SANDBOX_PREFIX = env_str("BERTH_SANDBOX_PREFIX", "berth")  # container names and labels
# Docker-in-Docker sandboxes hold elevated privileges (docs/security.md): off unless an admin
# turns them on; scripts/up turns them on for a one-machine demo and says so.
SANDBOX_DOCKER_PROFILE_ENABLED = env_bool("BERTH_DOCKER_PROFILE", False)
SANDBOX_DOCKER_RUNTIME = env_str("BERTH_DOCKER_RUNTIME", "") or None  # e.g. sysbox-runc
# Kubernetes nodes (containerd and a kubelet per sandbox) hold the same privileges: same rule.
SANDBOX_KUBERNETES_PROFILE_ENABLED = env_bool("BERTH_KUBERNETES_PROFILE", False)
SANDBOX_KUBERNETES_MEMORY_MB = env_int("BERTH_SANDBOX_KUBERNETES_MEMORY_MB", 2048, minimum=768)
SANDBOX_KUBERNETES_PIDS = env_int("BERTH_SANDBOX_KUBERNETES_PIDS", 4096, minimum=512)
SANDBOX_KUBERNETES_DISK_MB = env_int("BERTH_SANDBOX_KUBERNETES_DISK_MB", 8192, minimum=2048)
SANDBOX_KUBERNETES_SLOTS = env_int("BERTH_KUBERNETES_SANDBOX_SLOTS", 4, minimum=1)
SANDBOX_MEMORY_MB = env_int("BERTH_SANDBOX_MEMORY_MB", 512, minimum=64)
SANDBOX_DOCKER_MEMORY_MB = env_int("BERTH_SANDBOX_DOCKER_MEMORY_MB", 1536, minimum=256)
SANDBOX_CPUS = float(env_str("BERTH_SANDBOX_CPUS", "1.0"))
# Disk per sandbox (its whole file system; a Docker-day sandbox's inner images and containers
# too), enforced where the engine supports quotas (btrfs, or overlay2 on xfs with pquota).
SANDBOX_DISK_MB = env_int("BERTH_SANDBOX_DISK_MB", 2048, minimum=256)
SANDBOX_DOCKER_DISK_MB = env_int("BERTH_SANDBOX_DOCKER_DISK_MB", 6144, minimum=1024)
# The most a lab may ask for (its `resources:`); a request above is cut down to these.
SANDBOX_MAX_MEMORY_MB = env_int("BERTH_SANDBOX_MAX_MEMORY_MB", 4096, minimum=64)
SANDBOX_MAX_CPUS = float(env_str("BERTH_SANDBOX_MAX_CPUS", "2.0"))
SANDBOX_MAX_PIDS = env_int("BERTH_SANDBOX_MAX_PIDS", 4096, minimum=32)
SANDBOX_MAX_DISK_MB = env_int("BERTH_SANDBOX_MAX_DISK_MB", 16384, minimum=256)
SANDBOX_PIDS = env_int("BERTH_SANDBOX_PIDS", 512, minimum=32)
SANDBOX_DOCKER_PIDS = env_int("BERTH_SANDBOX_DOCKER_PIDS", 2048, minimum=128)
SANDBOX_TIME_LIMIT_MAX_MINUTES = env_int("BERTH_TIME_LIMIT_MAX_MINUTES", 240, minimum=5)
SANDBOX_READY_TIMEOUT = env_int("BERTH_SANDBOX_READY_TIMEOUT", 180, minimum=5)
SANDBOX_SESSIONS_PER_LEARNER = env_int("BERTH_SESSIONS_PER_LEARNER", 1, minimum=1)
SANDBOX_STARTS_PER_HOUR = env_int("BERTH_STARTS_PER_HOUR", 20, minimum=1)  # per learner
SANDBOX_EXTEND_MINUTES = env_int("BERTH_EXTEND_MINUTES", 15, minimum=1)
SANDBOX_KEEP_DAYS = env_int("BERTH_KEEP_DAYS", 7, minimum=0)  # pause and resume; 0 turns it off
SANDBOX_DOWNLOAD_MAX_MB = env_int("BERTH_DOWNLOAD_MAX_MB", 50, minimum=1)  # "download my work", packed
SANDBOX_IDLE_MINUTES = env_int("BERTH_IDLE_MINUTES", 30, minimum=1)  # no terminal input, no check
# A sandbox held at its process or CPU cap (a fork bomb, a miner) is slowed after this long, and
# ended after that (sandboxes/pressure.py). A Kubernetes node starting up holds its CPU quota for
# under a minute.
SANDBOX_PINNED_SLOW_SECONDS = env_int("BERTH_PINNED_SLOW_SECONDS", 120, minimum=0)
SANDBOX_PINNED_CPUS = float(env_str("BERTH_PINNED_CPUS", "0.1"))
SANDBOX_PINNED_END_SECONDS = env_int("BERTH_PINNED_END_SECONDS", 300, minimum=1)
# Capacity of each Docker host in slots; a standard sandbox takes 1, a Docker-in-Docker one more.
SANDBOX_HOST_SLOTS = env_int("BERTH_HOST_SLOTS", 50, minimum=1)
SANDBOX_DOCKER_SLOTS = env_int("BERTH_DOCKER_SANDBOX_SLOTS", 2, minimum=1)
# Warm pool per host: "profile/image=count,...", e.g. "docker/berth/docker:latest=2".
# Warm sandboxes and clusters per host (only for profiles that are on): Docker days, and the
# one- and two-node clusters the Kubernetes labs use.
SANDBOX_WARM_POOL = env_warm_pool(
    "BERTH_WARM_POOL",
    "docker/berth/docker:latest=2,kubernetes/berth/kubernetes:latest=1,kubernetes/berth/kubernetes:latest*2=1",
)
SOLUTION_AFTER_FAILURES = env_int("BERTH_SOLUTION_AFTER_FAILURES", 3, minimum=1)  # failed checks
TERMINAL_SCROLLBACK_BYTES = env_int("BERTH_TERMINAL_SCROLLBACK_BYTES", 256 * 1024, minimum=4096)
# A terminal's output is paced to this many bytes per second (a browser shows a few MB/s at most):
# a flood then cannot fill the web process's shared channel-layer inbox ahead of others' echoes.
TERMINAL_OUTPUT_BYTES_PER_SECOND = env_int("BERTH_TERMINAL_OUTPUT_RATE", 2 * 2**20, minimum=64 * 1024)
TERMINAL_RECORDING_MAX_BYTES = env_int("BERTH_RECORDING_MAX_BYTES", 4 * 2**20, minimum=4096)  # per shell
TERMINAL_RECORDING_DAYS = env_int("BERTH_RECORDING_DAYS", 30, minimum=1)  # then the reaper drops them

COURSE_LESSONS_DIR = Path(env_str("BERTH_LESSONS_DIR", str(BASE_DIR / "lessons")))
COURSE_LABS_DIR = Path(env_str("BERTH_LABS_DIR", str(BASE_DIR / "labs")))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
