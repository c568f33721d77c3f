"""Settings for the test run: the project's settings with test-only defaults.

DATABASE_URL and REDIS_URL still come from the environment, so the same suite runs on the
embedded default (SQLite, in-memory layer) and on PostgreSQL + Redis (CI's second pass).
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-for-any-deployment-0123456789")
os.environ.setdefault("HTTPS", "0")
os.environ.setdefault("CHANNEL_LAYER_PREFIX", "peerchat-tests")

from config.settings import *  # noqa: F403

STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Tests sweep by calling support_sweep() themselves; servers started by tests sweep as usual.
# Grace periods pinned to what the tests count with, whatever the production defaults are.
SUPPORT = {
    **SUPPORT,  # noqa: F405
    "SWEEP_INTERVAL_SECONDS": 0,
    "SESSION_GRACE_SECONDS": 300,
    "QUEUE_GRACE_SECONDS": 300,
}
# Tests run jobs by calling run_due() themselves; servers started by tests run their workers.
WORKER = {**WORKER, "EMBEDDED": False}  # noqa: F405
# Staff sign in with a password alone unless a test turns two-factor on (tests/test_two_factor.py).
STAFF_TWO_FACTOR = False
