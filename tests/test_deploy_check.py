"""Production settings pass `manage.py check --deploy`, and their responses carry the headers
and cookie flags that check cannot see (docs/operations.md, "The deployment check").

Both run in a fresh interpreter with the environment production has, so they read
config/settings.py exactly as a deployment does (the suite's own settings are not involved).
"""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "chat.example.org"


def production_env(**overrides) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SECRET_KEY", "DEBUG", "HTTPS", "SECURE_", "ENV_FILE"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "0",
            "ALLOWED_HOSTS": HOST,
            "HTTPS": "1",
            "DATABASE_URL": "sqlite:///:memory:",
            "REDIS_URL": "",
            **overrides,
        }
    )
    return env


def run(args: list[str], **overrides) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=production_env(**overrides),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_reports_no_issues_with_production_settings():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_notices_when_https_is_off():
    """The check is not vacuous: plain http in production is reported."""
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], HTTPS="0")
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr + result.stdout


# What a browser is sent, with production settings ------------------------------------------

RESPONSES = f"""
import json
import django
django.setup()
from django.core.management import call_command
from django.test import Client

call_command("migrate", verbosity=0)
client = Client(HTTP_HOST="{HOST}")
# JSON answers: pages would need collectstatic (their static files are hashed in production),
# and the headers come from middleware that every answer goes through.
home = client.get("/api/v1/me", secure=True)
started = client.post("/api/v1/seekers", secure=True)
print(json.dumps({{
    "home_headers": dict(home.headers),
    "home_cookies": {{name: dict(morsel) for name, morsel in home.cookies.items()}},
    "started_cookies": {{name: dict(morsel) for name, morsel in started.cookies.items()}},
    "plain_http": [client.get("/").status_code, client.get("/").headers.get("Location")],
    "plain_health": client.get("/healthz").status_code,
}}))
"""


def test_responses_carry_the_security_headers_and_cookie_flags():
    result = run(["-c", RESPONSES])
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    headers = seen["home_headers"]

    directives = (
        part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";")
    )
    policy = {name: value for name, value in directives}
    assert policy["script-src"] == "'self'"
    assert policy["default-src"] == "'self'"
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert "unsafe-eval" not in headers["Content-Security-Policy"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"

    # The CSRF cookie, and the session cookie once someone starts as a seeker.
    csrf = seen["home_cookies"]["csrftoken"]
    assert csrf["secure"] is True and csrf["samesite"] == "Lax"
    session = seen["started_cookies"]["sessionid"]
    assert session["secure"] is True and session["httponly"] is True
    assert session["samesite"] == "Lax"

    # Plain http is sent to https, except the health check the load balancer calls.
    assert seen["plain_http"] == [301, f"https://{HOST}/"]
    assert seen["plain_health"] == 200
