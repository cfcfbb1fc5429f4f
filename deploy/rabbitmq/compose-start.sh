#!/bin/bash
# RabbitMQ in compose.yaml: starts the broker (which loads definitions.json), gives each user of the definitions its
# password from the environment, then marks the broker ready for the health check. definitions.json carries no
# password (an empty hash: no password login) so that no secret lives in the repository.
#
#   MQ_ADMIN_PASSWORD, MQ_INTAKE_PASSWORD, MQ_VERIFICATION_PASSWORD, MQ_SCORING_PASSWORD,
#   MQ_NOTIFICATION_PASSWORD, MQ_DASHBOARD_PASSWORD, MQ_OPERATOR_PASSWORD
set -euo pipefail
ready=/tmp/asnreward-users-ready
rm -f "$ready"

docker-entrypoint.sh rabbitmq-server &
server=$!
trap 'gosu rabbitmq rabbitmqctl stop >/dev/null 2>&1 || kill -TERM "$server"; wait "$server"; exit 0' TERM INT

ctl() { gosu rabbitmq rabbitmqctl -q "$@"; }
until ctl await_startup >/dev/null 2>&1; do
    kill -0 "$server" 2>/dev/null || { echo "compose-start: rabbitmq-server exited" >&2; exit 1; }
    sleep 1
done

declare -A users=([asnreward_admin]=MQ_ADMIN_PASSWORD [intake]=MQ_INTAKE_PASSWORD
    [verification]=MQ_VERIFICATION_PASSWORD [scoring]=MQ_SCORING_PASSWORD
    [notification]=MQ_NOTIFICATION_PASSWORD [dashboard]=MQ_DASHBOARD_PASSWORD [operator]=MQ_OPERATOR_PASSWORD)
for user in "${!users[@]}"; do
    password="${!users[$user]:-}"
    [ -n "$password" ] || { echo "compose-start: ${users[$user]} is not set" >&2; exit 1; }
    ctl change_password "$user" "$password"
done
touch "$ready"
echo "compose-start: users ready"
wait "$server"
