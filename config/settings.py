"""Settings for peerchat, read from the environment in this one place.

Every variable is listed, with its default, in `.env.example`. The embedded default (no
variables at all but DEBUG) is SQLite and the in-memory channel layer; production sets
DATABASE_URL, REDIS_URL, SECRET_KEY and ALLOWED_HOSTS.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from config.channel_layers import in_memory_layer, redis_layer

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if env.str("ENV_FILE", default=""):
    environ.Env.read_env(env.str("ENV_FILE"))

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production refuses to start without a real secret; "
            "set SECRET_KEY (50+ random characters) or DEBUG=1 for local development."
        )
    SECRET_KEY = "insecure-development-key-only-used-when-DEBUG-is-on-" + "x" * 20

# Old keys still accepted while everyone's sessions move to the new one (docs/operations.md,
# "Rotating secrets").
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Full origins (https://chat.example.org) allowed to open websockets; empty: ALLOWED_HOSTS.
WS_ALLOWED_ORIGINS = env.list("WS_ALLOWED_ORIGINS", default=[])

# HTTPS is assumed in production (behind the reverse proxy that terminates TLS); local runs
# over plain http on loopback switch it off.
HTTPS = env.bool("HTTPS", default=not DEBUG)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env.bool("SECURE_SSL_REDIRECT", default=True)
# Health checks come from the supervisor or load balancer over plain http.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS and env.bool("SECURE_HSTS_PRELOAD", default=True)
# Behind the reverse proxy: trust its X-Forwarded-Proto (and daphne its X-Forwarded-For).
BEHIND_PROXY = env.bool("BEHIND_PROXY", default=False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 12)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "peerchat",
    "moderation",
    "peerchat.jobs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "config.middleware.StaffTwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "peerchat.context_processors.safety",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASE_POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", default=8)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DATABASE_POOL_MAX_SIZE:
    # Each process keeps a small pool of PostgreSQL connections (Django's psycopg pool).
    # Opening a connection for every frame cost more than the frame's own queries
    # (bench/README.md, "Chat load"). A pool needs CONN_MAX_AGE 0: "closing" returns the
    # connection to the pool, which drops it if it broke (e.g. PostgreSQL restarted).
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=1),
        "max_size": DATABASE_POOL_MAX_SIZE,
        # While PostgreSQL is away every database call waits this long before failing, and
        # a process's sockets share one database thread (and WS_SEND_THREADS for sends):
        # keep it short.
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=3.0),
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    # SQLite keeps the connection of the thread that serves the sockets' database work for
    # this long, instead of opening a new one for every frame.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int(
        "CONN_MAX_AGE",
        default=600 if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" else 0,
    )
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers go on while one writer commits; the timeout waits for the writer
    # instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL;",
            "transaction_mode": "IMMEDIATE",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=15.0)
CHANNEL_LAYER_PREFIX = env.str("CHANNEL_LAYER_PREFIX", default="peerchat")
# With REDIS_URL, broadcasts between processes go over Redis PUBLISH/SUBSCRIBE
# (peerchat.fanout); the channel layer remains for the health check.
CHANNEL_LAYERS = {
    "default": redis_layer(
        REDIS_URL,
        prefix=CHANNEL_LAYER_PREFIX,
        socket_timeout=REDIS_SOCKET_TIMEOUT,
    )
    if REDIS_URL
    else in_memory_layer()
}

AUTH_USER_MODEL = "peerchat.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
CSRF_FAILURE_VIEW = "peerchat.api.csrf_failure"
LOGIN_REDIRECT_URL = "/after-sign-in/"
LOGOUT_REDIRECT_URL = "/"

# Two-factor sign-in for staff (docs/operations.md, "Two-factor sign-in for staff"): everyone who
# signs in with a password gives a code from an authenticator app after it. On by default in
# production; off by default with DEBUG, so the demo accounts sign in with a password alone.
STAFF_TWO_FACTOR = env.bool("STAFF_TWO_FACTOR", default=not DEBUG)
# The name authenticator apps list the account under (django-otp's setting).
OTP_TOTP_ISSUER = env.str("TWO_FACTOR_ISSUER", default="peerchat")

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="Europe/London")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "var" / "static")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# The chat protocol's limits (docs/protocol.md). The frame limit is also given to daphne
# (--websocket-max-message-size) so oversized frames are refused before they are buffered.
PEERCHAT = {
    "MESSAGE_MAX_CHARS": env.int("MESSAGE_MAX_CHARS", default=2000),
    # Room for a full-length body even when a client escapes every character as \uXXXX pairs.
    "WS_MAX_FRAME_BYTES": env.int("WS_MAX_FRAME_BYTES", default=32768),
    "REPLAY_LIMIT": env.int("REPLAY_LIMIT", default=200),
    "PAGE_LIMIT": env.int("PAGE_LIMIT", default=200),
    "WS_AUTH_TIMEOUT_SECONDS": env.float("WS_AUTH_TIMEOUT_SECONDS", default=10.0),
    "WS_TICKET_MAX_AGE_SECONDS": env.int("WS_TICKET_MAX_AGE_SECONDS", default=60),
    # Token bucket per connection: sustained frames per second and burst size.
    "WS_RATE_PER_SECOND": env.float("WS_RATE_PER_SECOND", default=10.0),
    "WS_RATE_BURST": env.int("WS_RATE_BURST", default=30),
    # Frames refused for rate in a row before the socket is closed as abusive (4429).
    "WS_RATE_CLOSE_AFTER": env.int("WS_RATE_CLOSE_AFTER", default=50),
    # Token bucket per user, shared by all their sockets on every process (peerchat.limits).
    # A supporter with three chats typing fast sends about 2 frames a second; the burst, four
    # sockets' worth, covers several tabs re-joining their rooms at once after a reconnect.
    "WS_USER_RATE_PER_SECOND": env.float("WS_USER_RATE_PER_SECOND", default=20.0),
    "WS_USER_RATE_BURST": env.int("WS_USER_RATE_BURST", default=120),
    # Signed-in sockets one user may have open at once, across processes (close 4409).
    "WS_MAX_CONNECTIONS_PER_USER": env.int("WS_MAX_CONNECTIONS_PER_USER", default=12),
    # How often each process re-adds its fan-out channel to its groups, well inside the
    # channel layer's group expiry (a day by default).
    "HUB_GROUP_REFRESH_SECONDS": env.int("HUB_GROUP_REFRESH_SECONDS", default=3600),
    # Threads that store sends, per process. On PostgreSQL several sockets' sends wait on
    # the database at once (each socket's own frames stay in order); SQLite has one writer,
    # so there every database call shares the one thread (1).
    "WS_SEND_THREADS": env.int(
        "WS_SEND_THREADS",
        default=4 if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" else 1,
    ),
}

# Abuse limits (docs/operations.md, "Abuse limits"): shared by every process through Redis
# when REDIS_URL is set, kept by the one process otherwise. If Redis does not answer, the
# limits allow everything (fail open) rather than cut anyone off.
LIMITS = {
    "REDIS_URL": REDIS_URL,
    "KEY_PREFIX": env.str("LIMITS_KEY_PREFIX", default="peerchat-limits"),
    # A Redis that takes longer than this counts as down (the limits then allow).
    "REDIS_TIMEOUT_SECONDS": env.float("LIMITS_REDIS_TIMEOUT_SECONDS", default=0.5),
    # Staff sign-in: failed attempts per username, and per client address, in one window.
    "LOGIN_FAILURES_PER_USERNAME": env.int("LOGIN_FAILURES_PER_USERNAME", default=10),
    "LOGIN_FAILURES_PER_ADDRESS": env.int("LOGIN_FAILURES_PER_ADDRESS", default=30),
    "LOGIN_WINDOW_SECONDS": env.int("LOGIN_WINDOW_SECONDS", default=900),
    # New seeker accounts ("Talk to someone") per client address in one window: far above
    # what people sharing an address (a school, a mobile network) start, far below a script.
    "SEEKER_STARTS_PER_ADDRESS": env.int("SEEKER_STARTS_PER_ADDRESS", default=60),
    "SEEKER_STARTS_WINDOW_SECONDS": env.int("SEEKER_STARTS_WINDOW_SECONDS", default=3600),
}
# The cache holds the HTTP-side counters (peerchat.throttles): Redis when there is one, so
# every process counts together.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": LIMITS["KEY_PREFIX"],
        "OPTIONS": {
            "socket_timeout": LIMITS["REDIS_TIMEOUT_SECONDS"],
            "socket_connect_timeout": LIMITS["REDIS_TIMEOUT_SECONDS"],
        },
    }
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "peerchat"}
}

# Request bodies: the JSON API and the forms need a few kilobytes (a safety plan, at most
# about 150 KB however its text is encoded); a larger body is refused before it is read
# (413 `body_too_large` in the API's shape). nginx also refuses bodies over 1 MB.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=262144)
# Form fields in one request; the admin's bulk actions on a page of 100 rows are the most.
DATA_UPLOAD_MAX_NUMBER_FIELDS = env.int("DATA_UPLOAD_MAX_NUMBER_FIELDS", default=1000)

# The content filter (docs/operations.md, "Content filter"). Policy files are in
# moderation/policy/; moderators' additions are in the database.
FILTER = {
    # How often each process asks the database whether moderators changed the policy. A change
    # takes effect on every process within this many seconds, without a restart.
    "RELOAD_SECONDS": env.float("FILTER_RELOAD_SECONDS", default=2.0),
}

# Escalations (docs/operations.md, "Escalations"). Timers are durable jobs run by the worker.
ESCALATIONS = {
    # Not acknowledged this long after opening: every moderator is told (and the page rings
    # again), then, after ON_CALL_AFTER_SECONDS, the on-call contact through the hooks.
    "RENOTIFY_AFTER_SECONDS": env.int("ESCALATION_RENOTIFY_AFTER_SECONDS", default=120),
    "ON_CALL_AFTER_SECONDS": env.int("ESCALATION_ON_CALL_AFTER_SECONDS", default=300),
    # A supporter whose chat was escalated is due a debrief with a supervisor within this time.
    "DEBRIEF_DUE_HOURS": env.int("ESCALATION_DEBRIEF_DUE_HOURS", default=48),
    # How many recent messages a moderator sees with an escalation (each read is audited).
    "CONTEXT_MESSAGES": env.int("ESCALATION_CONTEXT_MESSAGES", default=12),
    # Resolved escalations stay on the moderators' page this long.
    "RECENT_HOURS": env.int("ESCALATION_RECENT_HOURS", default=12),
}

# Moderators observing and joining rooms (docs/operations.md, "Moderator oversight").
OVERSIGHT = {
    # A moderator's page that stopped answering this long ago no longer counts as present:
    # the sweep ends its presence and the room's "a moderator is here" marker goes away.
    "PRESENCE_TIMEOUT_SECONDS": env.int("OVERSIGHT_PRESENCE_TIMEOUT_SECONDS", default=90),
    # How often a moderator's open socket records that it is still observing (keep it well
    # under the timeout).
    "PRESENCE_INTERVAL_SECONDS": env.float("OVERSIGHT_PRESENCE_INTERVAL_SECONDS", default=20.0),
}
# The address people reach this service at, for links in hooks and emails.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

# Structured support sessions (docs/operations.md, "Support settings").
SUPPORT = {
    # Concurrent one-to-one chats a supporter may hold, by level.
    "CAPACITY_BY_LEVEL": env.json(
        "SUPPORT_CAPACITY_BY_LEVEL", default={"trainee": 1, "peer": 2, "senior": 3}
    ),
    # No new chats for this long after a chat that ended in an escalation.
    "ESCALATION_PAUSE_MINUTES": env.int("SUPPORT_ESCALATION_PAUSE_MINUTES", default=15),
    # How long a returning seeker waits for the supporter they asked for, if that supporter
    # is on shift but busy, before the next available supporter takes them.
    "CONTINUITY_WAIT_MINUTES": env.int("SUPPORT_CONTINUITY_WAIT_MINUTES", default=10),
    # A gentle "time to start closing" for the supporter; nothing is cut off.
    "SESSION_SOFT_LIMIT_MINUTES": env.int("SUPPORT_SESSION_SOFT_LIMIT_MINUTES", default=50),
    # A seeker whose page drops keeps their chat (or place in the queue) for this long. Phones
    # suspend pages whose screen locked: the queue, where nobody is waiting on them yet, is
    # the more patient of the two.
    "SESSION_GRACE_SECONDS": env.int("SUPPORT_SESSION_GRACE_SECONDS", default=600),
    "QUEUE_GRACE_SECONDS": env.int("SUPPORT_QUEUE_GRACE_SECONDS", default=900),
    # How often a seeker's open page tells the server it is still there.
    "PRESENCE_INTERVAL_SECONDS": env.int("SUPPORT_PRESENCE_INTERVAL_SECONDS", default=20),
    # How often each daphne process sweeps (lapsed grace periods, continuity waits, pauses);
    # 0 turns the in-process sweeper off (`manage.py support_sweep --loop` can run it instead).
    "SWEEP_INTERVAL_SECONDS": env.int("SUPPORT_SWEEP_INTERVAL_SECONDS", default=15),
    # A supporter may go on shift this many minutes before their scheduled start.
    "SHIFT_EARLY_START_MINUTES": env.int("SUPPORT_SHIFT_EARLY_START_MINUTES", default=15),
    # Wait estimates use what happened in this window, and need this many data points.
    "ESTIMATE_WINDOW_MINUTES": env.int("SUPPORT_ESTIMATE_WINDOW_MINUTES", default=180),
    "ESTIMATE_MIN_SAMPLES": env.int("SUPPORT_ESTIMATE_MIN_SAMPLES", default=3),
    # What a seeker may pick as a topic (optional). JSON list of [code, label] pairs.
    "TOPICS": env.json(
        "SUPPORT_TOPICS",
        default=[
            ["self_harm", "Self-harm"],
            ["feelings", "How I'm feeling"],
            ["relationships", "Family, friends or relationships"],
            ["school_work", "School, college or work"],
            ["something_else", "Something else"],
        ],
    ),
}

# Supervision and debriefs (docs/operations.md, "Supervision"). Training modules required per
# level, and how long each stays valid, are records (TrainingModule) that admins edit.
SUPERVISION = {
    # A supporter is due supervision this many weeks after their last one (or after joining).
    "INTERVAL_WEEKS_BY_LEVEL": env.json(
        "SUPERVISION_INTERVAL_WEEKS_BY_LEVEL", default={"trainee": 4, "peer": 4, "senior": 6}
    ),
    # Warnings start this many days before supervision falls due (page and reminders).
    "WARN_DAYS": env.int("SUPERVISION_WARN_DAYS", default=7),
    # Training renewal reminders this many days before a required module expires.
    "TRAINING_REMIND_DAYS": env.list("SUPERVISION_TRAINING_REMIND_DAYS", cast=int, default=[30, 7]),
    # Reminders of a booked supervision or debrief, this many minutes before it starts.
    "REMINDER_LEAD_MINUTES": env.list(
        "SUPERVISION_REMINDER_LEAD_MINUTES", cast=int, default=[1440, 60]
    ),
    # The longest exception to a gate a supervisor may grant.
    "EXCEPTION_MAX_DAYS": env.int("SUPERVISION_EXCEPTION_MAX_DAYS", default=14),
    # Occurrences of a recurring slot are made this far ahead (the worker's scan makes more).
    "SERIES_HORIZON_DAYS": env.int("SUPERVISION_SERIES_HORIZON_DAYS", default=84),
    # A check-in is asked for after shifts that ended within this many days.
    "CHECKIN_WINDOW_DAYS": env.int("SUPERVISION_CHECKIN_WINDOW_DAYS", default=3),
    # How often the worker's supervision scan runs (reminders, series, missed deadlines).
    "SCAN_MINUTES": env.int("SUPERVISION_SCAN_MINUTES", default=60),
}

# Anonymised figures for evaluators (docs/operations.md, "Evaluators' figures"): statistical
# disclosure control in the style of NHS published statistics (moderation/metrics/disclosure.py).
METRICS = {
    # Counts from 1 to this minus one are not shown ("<5").
    "SUPPRESS_BELOW": env.int("METRICS_SUPPRESS_BELOW", default=5),
    # Every other count (and supporter hours) is rounded to the nearest multiple of this.
    "ROUND_TO": env.int("METRICS_ROUND_TO", default=5),
    # Medians and 90th percentiles need a group at least this large.
    "PERCENTILE_MIN_GROUP": env.int("METRICS_PERCENTILE_MIN_GROUP", default=10),
}

# Data retention (docs/operations.md, "Data retention"): the worker's purge blanks the text of
# messages and of staff notes once they are this old, except in rooms under a safeguarding hold
# or with an escalation still unresolved. The rows stay, so evaluators' figures are unchanged.
# 0 keeps that kind of text for ever (`manage.py check` warns about it in production).
RETENTION = {
    # Message bodies, and staff copies of message text (masked originals, removed messages),
    # whispers between moderators and supporters: the conversation itself.
    "MESSAGE_BODY_DAYS": env.int("RETENTION_MESSAGE_BODY_DAYS", default=90),
    # Notes staff wrote about a chat or a person (handover, review, escalation, check-in notes,
    # reasons for removing a message), and seekers' feedback comments.
    "NOTES_DAYS": env.int("RETENTION_NOTES_DAYS", default=365),
    # How often the purge runs; the admin page warns when no run succeeded for twice this.
    "PURGE_EVERY_MINUTES": env.int("RETENTION_PURGE_EVERY_MINUTES", default=360),
    # Rows blanked per transaction: short transactions, never a long lock on busy tables.
    "BATCH_SIZE": env.int("RETENTION_BATCH_SIZE", default=500),
}

# The worker that runs durable jobs: `manage.py run_worker` (docs/operations.md, "Worker and
# durable jobs").
WORKER = {
    # Seconds an idle worker waits before looking for due jobs again.
    "POLL_SECONDS": env.float("WORKER_POLL_SECONDS", default=0.5),
    # How long a claimed job belongs to its worker. A worker silent for longer is presumed dead
    # and the job runs again, so this must exceed the longest single attempt (the checks at
    # start-up compare it with each hook's timeouts).
    "LEASE_SECONDS": env.float("WORKER_LEASE_SECONDS", default=60.0),
    # Retries: capped exponential backoff with jitter (peerchat.jobs.services.backoff_delay).
    "RETRY_BASE_SECONDS": env.float("WORKER_RETRY_BASE_SECONDS", default=5.0),
    "RETRY_MAX_SECONDS": env.float("WORKER_RETRY_MAX_SECONDS", default=600.0),
    # Tries before a job becomes a dead letter (admins see it and may retry it).
    "MAX_ATTEMPTS": env.int("WORKER_MAX_ATTEMPTS", default=15),
    # Run the worker inside each daphne process (peerchat.jobs.embedded). The default with the
    # in-memory channel layer, whose events reach only their own process's sockets.
    "EMBEDDED": env.bool("WORKER_EMBEDDED", default=not REDIS_URL),
}

# Escalation hooks (docs/hooks.md): dotted paths of the hook classes every escalation event
# is handed to through the durable jobs.
ESCALATION_HOOKS = env.list("ESCALATION_HOOKS", default=["moderation.hooks.email.EmailHook"])
ESCALATION_WEBHOOK = {
    "URL": env.str("ESCALATION_WEBHOOK_URL", default=""),
    # 32+ characters; several, comma-separated, while the receiver moves to a new one.
    "SECRET": env.str("ESCALATION_WEBHOOK_SECRET", default=""),
    "TIMEOUT_SECONDS": env.float("ESCALATION_WEBHOOK_TIMEOUT_SECONDS", default=10.0),
}
ESCALATION_EMAIL = {
    # Which events are emailed to whom: event type -> list of "moderators" (every active
    # moderator with an email address) and "on_call" (ESCALATION_ON_CALL_EMAILS).
    "EVENTS": env.json(
        "ESCALATION_EMAIL_EVENTS",
        default={"escalation.renotified": ["moderators"], "escalation.on_call": ["on_call"]},
    ),
    "ON_CALL": env.list("ESCALATION_ON_CALL_EMAILS", default=[]),
}

# Outgoing email (the email hook). The console backend prints mail when DEBUG is on.
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
# Without a timeout an SMTP server that stops answering would hold a worker forever.
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="peerchat@localhost")

# Grounding ideas shown in the waiting room (plain text, one per line in the JSON list).
GROUNDING_IDEAS = env.json(
    "GROUNDING_IDEAS",
    default=[
        "Breathe in slowly for four counts, hold for four, and breathe out for six.",
        "Name five things you can see, four you can hear and three you can touch.",
        "Hold something cold, like an ice cube or a cold drink, and notice how it feels.",
        "Press your feet into the floor and notice the ground holding you up.",
        "Put on a song you know well and listen for one instrument all the way through.",
    ],
)

# Logs go to standard error: `plain` lines for people, `json` (one object per line) for log
# collectors; docs/operations.md ("Logs") lists the fields.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be 'plain' or 'json'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}

# Crisis resources shown on every page, one tap away (DESIGN.md §2). Override per deployment
# with a JSON list of {"name", "detail", "href"} objects.
CRISIS_RESOURCES = env.json(
    "CRISIS_RESOURCES",
    default=[
        {"name": "Emergency services", "detail": "Call 999", "href": "tel:999"},
        {"name": "Samaritans", "detail": "Call 116 123, free, any time", "href": "tel:116123"},
        {"name": "Shout", "detail": "Text SHOUT to 85258", "href": "sms:85258?body=SHOUT"},
        {"name": "NHS 111", "detail": "Call 111 for urgent medical help", "href": "tel:111"},
    ],
)
# Where the quick-exit control goes: an ordinary, unremarkable page.
QUICK_EXIT_URL = env.str("QUICK_EXIT_URL", default="https://www.bbc.co.uk/weather")
