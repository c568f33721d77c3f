# peerchat: one image for the daphne processes and the one-shot `migrate` job of
# docker-compose.yml. Settings come from the environment (.env.example lists them all).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

RUN useradd --system --user-group --uid 10001 --home-dir /app --no-create-home peerchat

# Dependencies first, so a code change does not reinstall them.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .

# Static files go into the image (STATIC_ROOT, default /app/var/static, served by WhiteNoise
# with hashed names). The settings refuse to load without a secret when DEBUG is off, so this
# one command gets a throwaway value that is not kept in the image.
RUN SECRET_KEY=collectstatic-only-not-a-secret DEBUG=0 \
        python manage.py collectstatic --noinput --verbosity 0 \
    && chown -R peerchat:peerchat /app/var

USER peerchat
EXPOSE 8000

# One daphne process per container (Docker's restart policy supervises it). The frame limit
# follows WS_MAX_FRAME_BYTES, as in `manage.py run_topology` (32768 when unset, the settings'
# default); --proxy-headers takes the client address from the reverse proxy's X-Forwarded-For;
# --verbosity 0 turns off daphne's access log, which would record client addresses
# (run_topology passes --access-log /dev/null instead; nginx keeps an access log without them).
CMD ["sh", "-c", "exec daphne --bind 0.0.0.0 --port 8000 --proxy-headers --websocket-max-message-size \"${WS_MAX_FRAME_BYTES:-32768}\" --websocket-max-frame-size \"${WS_MAX_FRAME_BYTES:-32768}\" --application-close-timeout 5 --verbosity 0 config.asgi:application"]
