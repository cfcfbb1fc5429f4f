#ifndef ASNREWARD_CRABBITMQ_SHIM_H
#define ASNREWARD_CRABBITMQ_SHIM_H

// rabbitmq-c 0.11 (Debian 12) installs its headers at the top level; 0.12+ moved them under rabbitmq-c/.
#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/framing.h>
#include <rabbitmq-c/ssl_socket.h>
#include <rabbitmq-c/tcp_socket.h>
#elif __has_include(<amqp.h>)
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#else
#error "amqp.h not found: install librabbitmq-dev"
#endif

/// `amqp_login` is variadic, which Swift cannot call: this wrapper fixes the PLAIN mechanism's two arguments.
static inline amqp_rpc_reply_t asn_amqp_login_plain(amqp_connection_state_t state, char const *vhost,
                                                    int channel_max, int frame_max, int heartbeat,
                                                    char const *user, char const *password) {
    return amqp_login(state, vhost, channel_max, frame_max, heartbeat, AMQP_SASL_METHOD_PLAIN, user, password);
}

/// The same over `amqp_login_with_properties`, so the client can advertise its capabilities
/// (`consumer_cancel_notify`, `connection.blocked`, `publisher_confirms`) in the client-properties table.
static inline amqp_rpc_reply_t asn_amqp_login_plain_with_properties(amqp_connection_state_t state,
                                                                    char const *vhost, int channel_max,
                                                                    int frame_max, int heartbeat,
                                                                    const amqp_table_t *properties,
                                                                    char const *user, char const *password) {
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, properties,
                                      AMQP_SASL_METHOD_PLAIN, user, password);
}

#endif
