# The engine's image: `playbook worker` by default; any other command with `docker run IMAGE ...`
# or `docker compose run --rm worker tasks`. Runtime dependencies only: the dev tools and the
# embedded Temporal servers (extras `dev`, `servers`) stay out.
#
# Pinned by exact version, not by digest: a digest could not be checked where this file was
# written (no registry access but PyPI's); README, "Dependencies and images".
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The locked runtime dependencies, each checked against its hash, in a layer of their own (it
# changes only with the lock); then the package itself without resolving anything again, and
# its sources dropped. Playbooks come last: editing one rebuilds a single small layer.
COPY requirements/runtime.txt /src/requirements/runtime.txt
RUN pip install --require-hashes --no-deps -r /src/requirements/runtime.txt
COPY pyproject.toml README.md /src/
COPY engine /src/engine
COPY workers /src/workers
COPY playbook_cli /src/playbook_cli
RUN pip install --no-deps /src && rm -rf /src

WORKDIR /app
COPY playbooks ./playbooks

# Non-root, with a home and a writable /app for the SQLite default (compose sets PLAYBOOK_DATABASE_URL).
RUN useradd --create-home --uid 10001 --user-group playbook && chown playbook:playbook /app
USER playbook

ENTRYPOINT ["playbook"]
CMD ["worker"]
