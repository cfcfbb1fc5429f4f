-- One service's database and login role, least privilege: the role owns only its own database and schema, and
-- nobody else may connect to that database. Idempotent; run as a superuser (or a role with CREATEROLE and
-- CREATEDB) with the psql variables `role` (the service: intake, verification, scoring, notification) and `pw`:
--
--   psql -X -v ON_ERROR_STOP=1 -v role=intake -v pw="$INTAKE_DB_PASSWORD" -d postgres -f service-database.sql
--
-- Used by compose.yaml (deploy/postgres/init-databases.sh) and by the Kubernetes setup Job
-- (deploy/k8s/base/<service>/postgres-setup.yaml, from a copy that deploy/validate keeps identical). The same
-- statements as `pg_provision` in deploy/dev.
SET client_min_messages = warning;
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', :'role')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I PASSWORD %L', :'role', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I TEMPLATE template0 ENCODING ''UTF8'' LC_COLLATE ''C'' LC_CTYPE ''C.UTF-8''', :'role', :'role')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'role') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'role') \gexec
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', :'role', :'role') \gexec
\connect :role
SET client_min_messages = warning;
SELECT format('ALTER SCHEMA public OWNER TO %I', :'role') \gexec
REVOKE ALL ON SCHEMA public FROM PUBLIC;
