# syntax=docker/dockerfile:1
# Registro de infracciones de tránsito: one image that runs every component.
#   docker run -p 8888:8888 IMAGE      -> app + embedded database (SecantusDB) under the /data volume
#   docker compose up                  -> app + official MongoDB 8 replica set (the production shape)
# Only requirements.txt is installed: no test or lint tools end up in the image.
#
# Base: Debian 12 slim with Debian's own Python 3.11 from apt, so the interpreter gets Debian's security
# updates at every rebuild, and the image can be rebuilt and tested on a machine with no registry (the
# official Debian images are made with debootstrap, which `make image-test` does too; see README).

ARG DEBIAN_IMAGE=debian:bookworm-slim

# ---- python stage: Debian's Python 3.11, shared by the two stages below (one interpreter, same paths) ----
FROM ${DEBIAN_IMAGE} AS python
# python3 is bookworm's metapackage, 3.11.2-1+b1 for the whole life of Debian 12: pinning it fixes the
# Python line at 3.11. The packages it pulls in (python3.11, libpython3.11-stdlib) and ca-certificates (for
# a TLS MongoDB such as Atlas or DocumentDB) are left unpinned on purpose: they take bookworm's security
# updates at every build, and the archive drops a superseded version, which would break a pinned build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3=3.11.2-1+b1 ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# ---- build stage: a virtual environment with the runtime dependencies only ----
FROM python AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# python3-venv (same metapackage version) brings ensurepip; it stays in this stage.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3-venv=3.11.2-1+b1 \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /tmp/requirements.txt
# setuptools comes with the venv (ensurepip) but nothing needs it at runtime: removed, it cannot carry CVEs
# into the image.
RUN pip install --no-cache-dir -r /tmp/requirements.txt \
    && pip uninstall --yes setuptools

# ---- runtime stage: the virtual environment, the code, a non-root user ----
FROM python AS runtime
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
# `python` is the virtual environment's (first on PATH); Debian's own interpreter is python3.
# PYTHONPATH makes the application's modules importable by the scripts (`python scripts/issue_token.py`),
# as the editable install does in development.
# hadolint ignore=DL3064
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    LANG=C.UTF-8 \
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
