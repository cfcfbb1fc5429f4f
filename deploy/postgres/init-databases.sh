#!/bin/sh
# compose.yaml: runs once, when the postgres container initialises its data volume
# (/docker-entrypoint-initdb.d). Creates each service's database and role with the password from the
# environment (<SERVICE>_DB_PASSWORD). To apply changed passwords to an existing volume:
#   docker compose exec postgres sh /docker-entrypoint-initdb.d/10-asnreward.sh
set -eu
for service in intake verification scoring notification; do
    var="$(echo "$service" | tr a-z A-Z)_DB_PASSWORD"
    eval "pw=\${$var:-}"
    [ -n "$pw" ] || { echo "init-databases: $var is not set" >&2; exit 1; }
    psql -X -q -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
        -v role="$service" -v pw="$pw" -f /asnreward/service-database.sql
    echo "init-databases: database and role $service ready"
done
