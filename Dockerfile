# facekeep's service image.
#
# - Dependencies come from requirements.prod.lock (the pinned, hashed service part of
#   requirements.lock) in a layer of their own: a code change does not reinstall them.
# - The code is installed as a package into /opt/facekeep, owned by root: the service
#   user (uid 10001) can read and run it, never change it. No tests, benchmarks or sample
#   faces are in the image (see .dockerignore).
# - /data (FACEKEEP_DATA_DIR) is the one writable place: the audit signing key (unless it
#   is in the HSM), the SQLite files of a trial, the signer's anchor.
# - A PKCS#11 module is mounted, never built in: see "Containers" in the README.

FROM python:3.11-slim-bookworm AS build
ENV UV_NO_CACHE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m pip install "uv>=0.4,<1"
WORKDIR /src
# 1. Dependencies only (rebuilt when the lock changes).
COPY requirements.prod.lock ./
RUN python -m uv venv /opt/facekeep \
 && python -m uv pip install --python /opt/facekeep --no-deps --require-hashes \
      --compile-bytecode -r requirements.prod.lock
# 2. The code (rebuilt when it changes), installed into the environment's site-packages.
COPY pyproject.toml README.md ./
COPY dbkit ./dbkit
COPY keys ./keys
COPY vault ./vault
COPY enroll ./enroll
COPY api ./api
RUN python -m uv pip install --python /opt/facekeep --no-deps --compile-bytecode .

FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/facekeep/bin:$PATH \
    FACEKEEP_DATA_DIR=/data \
    FACEKEEP_HOST=0.0.0.0 \
    FACEKEEP_PORT=8000 \
    FACEKEEP_IMAGE_WORKERS=2
RUN useradd --system --uid 10001 --user-group --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin facekeep \
 && mkdir -m 0700 /data /kek \
 && chown 10001:10001 /data /kek
# Owned by root, read-only to the service user.
COPY --from=build /opt/facekeep /opt/facekeep
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# Healthy once the index is built (/readyz); a start of a million customers takes about a
# minute, so the start period is generous. Orchestrators: liveness /healthz, readiness /readyz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=600s --retries=3 \
  CMD python -c "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('FACEKEEP_PORT', '8000'), timeout=4)"
CMD ["facekeep", "serve"]
