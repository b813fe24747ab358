-- The database roles of the compose stack, least privilege: run by the PostgreSQL superuser
-- (deploy/postgres/create-roles.sh, on every `docker compose up`; safe to repeat).
--   temporal  owns `temporal` and `temporal_visibility` (Temporal's schema and data), nothing else
--   playbook  owns `playbook` (the engine's task store, ledger and decision log), nothing else
-- Neither may create databases or roles, replicate, bypass row security or connect to the
-- other's databases. Passwords come as psql variables and are set again on each run, so
-- changing one in the environment rotates it.
--   psql --set temporal_password=... --set playbook_password=... -f roles.sql
\set ON_ERROR_STOP on

SELECT 'CREATE ROLE temporal' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'temporal')\gexec
SELECT 'CREATE ROLE playbook' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'playbook')\gexec
ALTER ROLE temporal WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'temporal_password';
ALTER ROLE playbook WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'playbook_password';

SELECT 'CREATE DATABASE temporal OWNER temporal'
    WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'temporal')\gexec
SELECT 'CREATE DATABASE temporal_visibility OWNER temporal'
    WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'temporal_visibility')\gexec
SELECT 'CREATE DATABASE playbook OWNER playbook'
    WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'playbook')\gexec
ALTER DATABASE temporal OWNER TO temporal;
ALTER DATABASE temporal_visibility OWNER TO temporal;
ALTER DATABASE playbook OWNER TO playbook;

-- Every role may connect to every database by default (PUBLIC); only the owner may here.
REVOKE ALL ON DATABASE temporal, temporal_visibility, playbook FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE temporal, temporal_visibility TO temporal;
GRANT CONNECT, TEMPORARY ON DATABASE playbook TO playbook;
