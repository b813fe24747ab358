# The engine's image: `playbook worker` by default; any other command with `docker run IMAGE ...`
# or `docker compose run --rm worker tasks`. Runtime dependencies only: the dev tools and the
# embedded Temporal servers (extras `dev`, `servers`) stay out.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Install the package (not an editable tree), then drop its sources. Playbooks come last:
# editing one rebuilds a single small layer.
COPY pyproject.toml README.md /src/
COPY engine /src/engine
COPY workers /src/workers
COPY playbook_cli /src/playbook_cli
RUN pip install /src && rm -rf /src

WORKDIR /app
COPY playbooks ./playbooks

# Non-root, with a home and a writable /app for the SQLite default (compose sets PLAYBOOK_DATABASE_URL).
RUN useradd --create-home --uid 10001 --user-group playbook && chown playbook:playbook /app
USER playbook

ENTRYPOINT ["playbook"]
CMD ["worker"]
