# facekeep: installs as the README does (scripts/setup-env), from requirements.prod.lock:
# the pinned versions of requirements.lock without the test and development tools.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    FACEKEEP_DATA_DIR=/data

RUN useradd --create-home --uid 10001 facekeep
WORKDIR /app

# Build the venv first so code changes do not reinstall dependencies.
COPY requirements.prod.lock pyproject.toml README.md ./
COPY scripts ./scripts
COPY bench ./bench
COPY keys ./keys
COPY vault ./vault
COPY enroll ./enroll
COPY api ./api
# The sample faces let `facekeep demo` run inside the container.
COPY tests/data/faces ./tests/data/faces
RUN SETUP_LOCK=requirements.prod.lock bash scripts/setup-env && chown -R facekeep /app

USER facekeep
VOLUME ["/data"]
EXPOSE 8000
ENV PATH=/app/.venv/bin:$PATH \
    FACEKEEP_HOST=0.0.0.0 \
    FACEKEEP_IMAGE_WORKERS=2
# `docker run IMAGE facekeep demo` runs the demo; `... facekeep keys create-admin` makes a key.
# Serving listens on every interface, so it needs the real controller first:
# `docker run -e FACEKEEP_CONTROLLER="..." -e FACEKEEP_PRIVACY_CONTACT="..." IMAGE`.
CMD ["facekeep", "serve"]
