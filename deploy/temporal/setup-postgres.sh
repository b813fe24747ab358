#!/bin/sh
# Migrates Temporal's two databases (`temporal`, `temporal_visibility`) in the compose file's
# PostgreSQL, as the `temporal` role that owns them. Follows temporalio/samples-server
# compose/scripts/setup-postgres.sh, less its `create` steps: the databases are made by
# deploy/postgres/roles.sql (the role may not create databases). Safe to run on every
# `docker compose up`: `setup-schema -v 0.0` keeps a newer version, and `update-schema`
# applies only what is missing.
set -eu

: "${POSTGRES_SEEDS:?ERROR: POSTGRES_SEEDS environment variable is required}"
: "${POSTGRES_USER:?ERROR: POSTGRES_USER environment variable is required}"

echo 'Starting PostgreSQL schema setup...'
echo 'Waiting for PostgreSQL port to be available...'
nc -z -w 10 "${POSTGRES_SEEDS}" "${DB_PORT:-5432}"
echo 'PostgreSQL port is available'

sql() {
    temporal-sql-tool --plugin postgres12 --ep "${POSTGRES_SEEDS}" -u "${POSTGRES_USER}" \
        -p "${DB_PORT:-5432}" "$@"
}

sql --db temporal setup-schema -v 0.0
sql --db temporal update-schema -d /etc/temporal/schema/postgresql/v12/temporal/versioned

sql --db temporal_visibility setup-schema -v 0.0
sql --db temporal_visibility update-schema -d /etc/temporal/schema/postgresql/v12/visibility/versioned

echo 'PostgreSQL schema setup complete'
