"""The webhook hook: POST each escalation event as signed JSON to ESCALATION_WEBHOOK["URL"].

Headers: `Peerchat-Event` (the event type), `Idempotency-Key` (the event id, the same on
every attempt) and `Peerchat-Signature` (moderation/hooks/signing.py, signed afresh on each
attempt). 2xx is delivered; no answer, 408, 429 and 5xx are tried again later; any other
answer (other 4xx, and 3xx: redirects are never followed) is given up at once, so a wrong URL
or secret shows as a dead letter ("HTTP 401") instead of retrying for an hour.
"""

import json
import time

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from moderation.hooks import signing
from moderation.hooks.base import Hook, HookDelivery, HookGiveUp, HookRetry

SECRET_MIN_CHARS = 32
RETRY_STATUSES = {408, 429}
USER_AGENT = "peerchat-hooks/1"


def _unix_time() -> int:
    return int(time.time())


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None


class WebhookHook(Hook):
    name = "webhook"

    def __init__(self):
        config = settings.ESCALATION_WEBHOOK
        self.url = config["URL"]
        self.secrets = [s.strip() for s in config["SECRET"].split(",") if s.strip()]
        self.timeout = float(config["TIMEOUT_SECONDS"])
        if not self.url.startswith(("https://", "http://")):
            raise ImproperlyConfigured(
                "The webhook hook needs ESCALATION_WEBHOOK_URL, an https:// address "
                "(http:// only on a private network)."
            )
        if not self.secrets or any(len(s) < SECRET_MIN_CHARS for s in self.secrets):
            raise ImproperlyConfigured(
                f"The webhook hook needs ESCALATION_WEBHOOK_SECRET of at least "
                f"{SECRET_MIN_CHARS} characters (each one, when several are given "
                f'comma-separated). Make one with: python3 -c "import secrets; '
                f'print(secrets.token_urlsafe(32))"'
            )
        if self.timeout <= 0:
            raise ImproperlyConfigured("ESCALATION_WEBHOOK_TIMEOUT_SECONDS must be positive.")
        # Connecting and waiting for the answer may each take up to the timeout.
        self.longest_attempt_seconds = 2 * self.timeout

    @staticmethod
    def body(payload: dict) -> bytes:
        """The exact bytes sent and signed."""
        return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()

    def deliver(self, delivery: HookDelivery) -> str:
        body = self.body(delivery.payload)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Peerchat-Event": delivery.event_type,
            "Idempotency-Key": delivery.event_id,
            "Peerchat-Signature": signing.sign(self.secrets, body, _unix_time()),
        }
        try:
            response = requests.post(
                self.url,
                data=body,
                headers=headers,
                timeout=(self.timeout, self.timeout),
                allow_redirects=False,
            )
        except requests.Timeout:
            raise HookRetry("timeout") from None
        except requests.ConnectionError:
            raise HookRetry("connection failed") from None
        except requests.RequestException as error:
            # The exception's text may hold the URL (which may carry a token): the class only.
            raise HookRetry(type(error).__name__) from None
        status = response.status_code
        response.close()
        if 200 <= status < 300:
            return f"HTTP {status}"
        if status >= 500 or status in RETRY_STATUSES:
            raise HookRetry(f"HTTP {status}", delay=_retry_after(response))
        if 300 <= status < 400:
            raise HookGiveUp(f"HTTP {status} (redirects are not followed)")
        raise HookGiveUp(f"HTTP {status}")
