#!/bin/sh
# Entrypoint of the ASN Reward image (deploy/Dockerfile): `SERVICE` picks the binary; arguments go to it.
#   SERVICE=intake|verification|scoring|notification   a service (HTTP on $HTTP_HOST:$HTTP_PORT)
#   SERVICE=asnreward|asnreward-bench                    the operator CLI / the benchmark
#   asnreward-entrypoint healthcheck                     exit 0 when GET /health/ready answers 200
set -eu

if [ "${1:-}" = healthcheck ]; then
    exec curl -fsS -o /dev/null --max-time 4 "http://127.0.0.1:${HTTP_PORT:-8080}/health/ready"
fi

case "${SERVICE:-}" in
    intake|verification|scoring|notification|asnreward|asnreward-bench)
        exec "/app/bin/$SERVICE" "$@" ;;
    *)
        echo "SERVICE harus salah satu dari intake, verification, scoring, notification, asnreward, asnreward-bench" \
            "(SERVICE must name one of them; got '${SERVICE:-}')" >&2
        exit 2 ;;
esac
