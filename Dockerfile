# syntax=docker/dockerfile:1
#
# watchbot: the community tech-watch bot.
#   docker build -t watchbot .
#   docker run -d --name watchbot -v watchbot-data:/data --env-file watchbot.env watchbot
# The store is SQLite in the /data volume unless WATCHBOT_DATABASE_URL says
# otherwise (postgresql://... works too: the image has the postgres extra).
# Secrets (tokens, passwords) are given at run time (--env-file, -e), never built in.

# ---- builder: turns the source tree into a wheel ---------------------------
FROM python:3.12-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /src
# The whole context: .dockerignore keeps VCS data, virtualenvs, caches,
# databases and .env files out of it.
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# ---- runtime ---------------------------------------------------------------
FROM python:3.12-slim-bookworm

LABEL org.opencontainers.image.title="watchbot" \
      org.opencontainers.image.description="A community tech-watch bot: links shared on Matrix and Mastodon, filed, searched and digested weekly."

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    WATCHBOT_DATABASE_URL=sqlite:////data/watchbot.db

# A fixed uid/gid, so that the volume's ownership is predictable on the host.
RUN groupadd --system --gid 10001 watchbot \
    && useradd --system --no-log-init --uid 10001 --gid 10001 \
        --home-dir /data --no-create-home --shell /usr/sbin/nologin watchbot \
    && mkdir -p /data \
    && chown 10001:10001 /data

# The wheel is bind-mounted from the builder, so it never lands in a layer;
# its dependencies (and the postgres and e2e extras) come from PyPI.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m venv /opt/venv \
    && wheel="$(find /wheels -name 'watchbot-*.whl' -print -quit)" \
    && test -n "$wheel" \
    && /opt/venv/bin/pip install --no-cache-dir "${wheel}[postgres,e2e]"

WORKDIR /data
VOLUME /data

# Numeric, so that Kubernetes' runAsNonRoot can verify it is not root.
USER 10001:10001

HEALTHCHECK --interval=60s --timeout=15s --start-period=120s --retries=3 \
    CMD ["watchbot", "status", "--quiet"]

ENTRYPOINT ["watchbot"]
CMD ["run"]
