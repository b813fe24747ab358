#!/bin/sh
# Creates the engine's role and database (task store and sent-action ledger) in the compose
# file's PostgreSQL, beside Temporal's databases. Safe to repeat: the role's password is set
# to PLAYBOOK_DB_PASSWORD each time, the database is created only when missing.
# Connection: the standard libpq variables PGHOST, PGUSER, PGPASSWORD.
set -eu

: "${PLAYBOOK_DB_PASSWORD:?ERROR: PLAYBOOK_DB_PASSWORD environment variable is required}"

until pg_isready --quiet; do
    echo 'Waiting for PostgreSQL...'
    sleep 2
done

psql --no-psqlrc --set ON_ERROR_STOP=1 --dbname postgres \
    --set password="$PLAYBOOK_DB_PASSWORD" <<'SQL'
SELECT 'CREATE ROLE playbook LOGIN'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'playbook')\gexec
ALTER ROLE playbook WITH LOGIN PASSWORD :'password';
SELECT 'CREATE DATABASE playbook OWNER playbook'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'playbook')\gexec
SQL
echo 'database playbook ready'
