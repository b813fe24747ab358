#!/bin/sh
# Creates (or updates) the least-privilege roles and databases of deploy/postgres/roles.sql in
# the compose file's PostgreSQL, as its superuser. Safe to repeat on every `up`.
# Connection: the standard libpq variables PGHOST, PGUSER, PGPASSWORD.
set -eu

: "${TEMPORAL_DB_PASSWORD:?ERROR: TEMPORAL_DB_PASSWORD environment variable is required}"
: "${PLAYBOOK_DB_PASSWORD:?ERROR: PLAYBOOK_DB_PASSWORD environment variable is required}"

until pg_isready --quiet; do
    echo 'Waiting for PostgreSQL...'
    sleep 2
done

psql --no-psqlrc --quiet --dbname postgres \
    --set temporal_password="$TEMPORAL_DB_PASSWORD" \
    --set playbook_password="$PLAYBOOK_DB_PASSWORD" \
    --file "$(dirname "$0")/roles.sql"
echo 'roles temporal and playbook ready'
