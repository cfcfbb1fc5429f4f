/// One consumer queue of the topology.
package struct QueueSpec: Sendable, Equatable {
    /// Queue name, e.g. `verification.submissions`.
    package var name: String
    /// Routing keys (topic patterns) bound on the events exchange.
    package var bindings: [String]
    /// Deliveries after which a quorum queue dead-letters a message (`x-delivery-limit`).
    package var deliveryLimit: Int

    /// Describes a queue bound to the events exchange with `bindings`.
    package init(name: String, bindings: [String], deliveryLimit: Int = 5) {
        self.name = name
        self.bindings = bindings
        self.deliveryLimit = deliveryLimit
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

    /// Describes the topology; the exchange names default to the production names.
    package init(
        eventsExchange: String = "asnreward.events",
        deadLetterExchange: String = "asnreward.dead",
        queues: [QueueSpec]
    ) {
        self.eventsExchange = eventsExchange
        self.deadLetterExchange = deadLetterExchange
        self.queues = queues
    }
}
