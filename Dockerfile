# syntax=docker/dockerfile:1
# One image for every process: `web` (default), `worker`, `release`, `demo` (docker/entrypoint.sh).

# -- dependencies, in a virtualenv copied into the final image (no pip cache, no build layers there)
FROM python:3.11-slim AS deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv /venv && /venv/bin/pip install -r /tmp/requirements.txt

# -- the app
FROM python:3.11-slim
ENV PATH="/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_ENV=production \
    LOG_FORMAT=json \
    PORT=5000 \
    INSTANCE_PATH=/var/lib/leads/instance \
    PROMETHEUS_MULTIPROC_DIR=/var/lib/leads/metrics
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /var/lib/leads/instance /var/lib/leads/metrics \
    && chown -R app:app /var/lib/leads
COPY --from=deps /venv /venv
WORKDIR /app
COPY . /app
RUN python -m compileall -q server demo emulators migrations gunicorn.conf.py
USER app
EXPOSE 5000
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["web"]
