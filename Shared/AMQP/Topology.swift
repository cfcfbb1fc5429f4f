/// One consumer queue of the topology.
package struct QueueSpec: Sendable, Equatable {
    /// Queue name, e.g. `verification.submissions`.
    package var name: String
    /// Routing keys (topic patterns) bound on the events exchange.
    package var bindings: [String]
    /// Deliveries after which a quorum queue dead-letters a message (`x-delivery-limit`).
    package var deliveryLimit: Int

    /// How the queue lives on the broker.
    package var kind: Kind

    /// How a queue lives on the broker.
    package enum Kind: Sendable, Equatable {
        /// A service's work queue: quorum, durable, `x-delivery-limit`, dead-lettered into `<name>.dead`.
        case durable
        /// A watcher's queue (dashboards): classic, not durable, deleted when its last consumer leaves, no
        /// dead-lettering — so a user with rights only on its own queues can declare it.
        case transient
    }

    /// Describes a queue bound to the events exchange with `bindings`; `kind` defaults to a service's durable,
    /// dead-lettered work queue.
    package init(name: String, bindings: [String], deliveryLimit: Int = 5, kind: Kind = .durable) {
        self.name = name
        self.bindings = bindings
        self.deliveryLimit = deliveryLimit
        self.kind = kind
    }

    /// Name of the queue that keeps what this queue dead-letters.
    package var deadLetterQueueName: String { name + ".dead" }
}

/// The broker objects the system needs, declared by code from this one description.
///
/// - `eventsExchange`: durable topic exchange every event is published to.
/// - `deadLetterExchange`: durable topic exchange receiving dead-lettered messages with the routing key set to
///   the name of the queue they died in.
/// - per `QueueSpec`: a durable quorum queue (`x-queue-type=quorum`, `x-delivery-limit`,
///   `x-dead-letter-exchange`, `x-dead-letter-routing-key=<name>`) bound to the events exchange with each of its
///   bindings, and a durable classic queue `<name>.dead` bound to the dead-letter exchange with key `<name>`.
///
/// Declaring is idempotent; declaring an existing queue with other arguments fails with 406 PRECONDITION_FAILED.
package struct Topology: Sendable, Equatable {
    /// Durable topic exchange for events.
    package var eventsExchange: String
    /// Durable topic exchange for dead letters.
    package var deadLetterExchange: String
    /// Consumer queues.
    package var queues: [QueueSpec]
    /// Whether this user declares the two exchanges (services) or only checks that they exist (dashboards and
    /// other read-only users, which may not configure them).
    package var ownsExchanges: Bool

    /// Describes the topology; the exchange names default to the production names.
    package init(
        eventsExchange: String = "asnreward.events",
        deadLetterExchange: String = "asnreward.dead",
        queues: [QueueSpec],
        ownsExchanges: Bool = true
    ) {
        self.eventsExchange = eventsExchange
        self.deadLetterExchange = deadLetterExchange
        self.queues = queues
        self.ownsExchanges = ownsExchanges
    }
}
