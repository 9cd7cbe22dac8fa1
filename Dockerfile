# syntax=docker/dockerfile:1
# Registro de infracciones de tránsito: one image that runs every component.
#   docker run -p 8888:8888 IMAGE      -> app + embedded database (SecantusDB) under the /data volume
#   docker compose up                  -> app + official MongoDB 8 replica set (the production shape)
# Only requirements.txt is installed: no test or lint tools end up in the image.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build stage: a virtual environment with the runtime dependencies only ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt

# ---- runtime stage: the virtual environment, the code, a non-root user ----
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="registro-infracciones" \
      org.opencontainers.image.description="Registro de infracciones de tránsito (Tornado + MongoDB)" \
      org.opencontainers.image.licenses="MIT"
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /data \
    && chown app:app /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The code belongs to root and is read-only for the app user; only /data is writable.
COPY . /app

# The image's defaults. Production mode; with no MONGODB_URI the embedded database runs inside the
# container (EMBEDDED_DB=1) and strong secrets are generated once and kept under /data
# (GENERATE_SECRETS=1). WORKERS=0 means one worker process per CPU.
# GENERATE_SECRETS is a switch, not a secret: no secret value is ever baked into the image.
# hadolint ignore=DL3064
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_ENV=production \
    EMBEDDED_DB=1 \
    GENERATE_SECRETS=1 \
    DATA_DIR=/data \
    PORT=8888 \
    WORKERS=0 \
    APP_TIMEZONE=America/Santiago

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8888
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8888') + '/healthz', timeout=4); sys.exit(0 if r.status == 200 else 1)"]
# Exec form: the server is PID 1 and receives SIGTERM from `docker stop` directly.
STOPSIGNAL SIGTERM
CMD ["python", "server.py"]
