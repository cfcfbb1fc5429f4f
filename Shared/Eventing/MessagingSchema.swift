import AMQP
import Database

/// The tables of the transactional outbox and the inbox, which every service prepends to its own migrations.
///
/// ```swift
/// let migrations = MessagingSchema.migrations + (try MigrationRunner.load(directory: migrationsDirectory))
/// try await MigrationRunner(service: "intake", migrations: migrations, logger: logger).run(on: pool)
/// ```
///
/// Their names (`0001_messaging_outbox`, `0002_messaging_inbox`, `0003_messaging_outbox_lease`) sort before a
/// service's own files, so a service migration may reference them. They run in the service's own database. A
/// shipped migration is never edited (the runner checks its checksum): changes come as new migrations.
package enum MessagingSchema {
    /// The channel `Outbox.enqueue` notifies (at commit) whenever it inserts rows into `outbox` (empty payload).
    package static let outboxChannel = "outbox"

    /// `outbox`, `inbox` and `outboxLease`, in the order they must be applied.
    package static let migrations: [Migration] = [outbox, inbox, outboxLease, inboxWithoutTimeIndex, outboxQueueIndex]

    /// The outbox: Debezium's outbox columns plus the CloudEvents attributes needed to republish an event exactly.
    ///
    /// - `id`, `aggregatetype`, `aggregateid`, `type`, `payload` are the columns Debezium's outbox event router
    ///   reads, so change-data-capture can replace the polling relay without a schema change; `id` is also the
    ///   CloudEvents id and the AMQP `message_id`.
    /// - `source`, `subject`, `time`, `dataschema`, `extensions` are the other CloudEvents attributes.
    /// - `seq` orders rows in insertion order (the relay publishes in `seq` order).
    /// - `published_at` is set when the broker confirmed the message; `attempts`, `retry_at`, `last_error` and
    ///   `unroutable` record failed attempts (`retry_at` is when the next attempt may happen).
    /// - `outbox_unpublished` is the relay's work queue (`outbox_queue` since `0005`); `outbox_unpublished_aggregate`
    ///   lets it check quickly whether an aggregate has an earlier unpublished row, `outbox_waiting_retry` whether
    ///   it has one waiting for a retry; `outbox_published_at` serves pruning.
    /// - No trigger: `Outbox.enqueue` itself calls `pg_notify('outbox', '')` in its insert statement, so a
    ///   listening relay wakes up at commit (PostgreSQL folds a transaction's identical notifications into one).
    ///   This keeps the schema free of PL/pgSQL; rows written by other means are found by the relay's polling.
    package static let outbox = Migration(
        name: "0001_messaging_outbox",
        sql: """
            CREATE TABLE outbox (
                seq bigserial NOT NULL UNIQUE,
                id uuid PRIMARY KEY,
                aggregatetype text NOT NULL,
                aggregateid text NOT NULL,
                type text NOT NULL,
                payload jsonb NOT NULL,
                source text NOT NULL,
                subject text,
                time timestamptz NOT NULL,
                dataschema text,
                extensions jsonb NOT NULL DEFAULT '{}'::jsonb,
                created_at timestamptz NOT NULL DEFAULT now(),
                published_at timestamptz,
                attempts integer NOT NULL DEFAULT 0,
                retry_at timestamptz,
                unroutable boolean NOT NULL DEFAULT false,
                last_error text
            );

            CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
            CREATE INDEX outbox_unpublished_aggregate ON outbox (aggregatetype, aggregateid, seq)
                WHERE published_at IS NULL;
            CREATE INDEX outbox_waiting_retry ON outbox (aggregatetype, aggregateid, seq)
                WHERE published_at IS NULL AND retry_at IS NOT NULL AND NOT unroutable;
            CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;
            """
    )

    /// The relay's lease on outbox rows it is publishing: `claimed_by` (the relay instance) and `claimed_until`
    /// (when the lease expires and another relay may take the row over).
    ///
    /// ``OutboxRelay`` stamps the lease in a short claim statement, publishes with no transaction open, and
    /// clears it when it marks the rows published or failed. A row whose lease has not expired is *in flight*: no
    /// other relay publishes it or a later row of its aggregate.
    ///
    /// The claim must stay cheap, so it is a HOT update (no index entries written): the lease columns have no
    /// index (the relay finds in-flight rows of an aggregate through `outbox_unpublished_aggregate`), and pages
    /// are filled only half (`fillfactor = 50`, for pages written from now on) so the new row versions fit on
    /// their page. Measured on 50,000 rows: leasing 1,000 took 50–70 ms at fillfactor 100, 10–13 ms at 50.
    package static let outboxLease = Migration(
        name: "0003_messaging_outbox_lease",
        sql: """
            ALTER TABLE outbox
                ADD COLUMN claimed_by uuid,
                ADD COLUMN claimed_until timestamptz;
            ALTER TABLE outbox SET (fillfactor = 50);
            """
    )

    /// The inbox: one row per message a consumer has processed, written in the transaction of its effects.
    ///
    /// `PRIMARY KEY (consumer, message_id)` is the de-duplication: a redelivered or re-published message finds
    /// its row and is acknowledged without effect. `received_at` lets operators prune old rows (a message older
    /// than the broker's redelivery horizon cannot come back).
    package static let inbox = Migration(
        name: "0002_messaging_inbox",
        sql: """
            CREATE TABLE inbox (
                consumer text NOT NULL,
                message_id text NOT NULL,
                received_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (consumer, message_id)
            );

            CREATE INDEX inbox_received_at ON inbox (received_at);
            """
    )

    /// Drops `inbox_received_at`: every consumed message paid an index insert for a pruning query that nothing
    /// runs (an operator pruning old inbox rows, rarely, can afford a sequential scan). The primary key, which the
    /// de-duplication needs, stays.
    package static let inboxWithoutTimeIndex = Migration(
        name: "0004_messaging_inbox_without_time_index",
        sql: "DROP INDEX IF EXISTS inbox_received_at;"
    )

    /// Replaces the relay's work queue `outbox_unpublished (seq) WHERE published_at IS NULL` by `outbox_queue`,
    /// the same index with one more term in its predicate (`seq > 0`, true of every row), which only the relay's
    /// queue scans state.
    ///
    /// Why: the claim asks, per candidate, whether its aggregate has an earlier unpublished row
    /// (`aggregatetype = … AND aggregateid = … AND published_at IS NULL AND seq < …`), which
    /// `outbox_unpublished_aggregate` answers with one probe. But the outbox is usually analyzed when the relay
    /// is caught up, so the statistics say the unpublished partial indexes are empty; the planner then costs
    /// both alike and took `outbox_unpublished`, walking every earlier unpublished row for each candidate. A
    /// burst (a campaign day, a broker outage) made each claim O(batch × backlog): 215 ms per claim in the scoring
    /// benchmark, 349 ms for 500 of 3,000 unpublished rows, against 8 ms with fresh statistics. The per-aggregate
    /// check does not state `seq > 0`, so it cannot use `outbox_queue` at all, whatever the statistics say.
    package static let outboxQueueIndex = Migration(
        name: "0005_messaging_outbox_queue_index",
        sql: """
            CREATE INDEX outbox_queue ON outbox (seq) WHERE published_at IS NULL AND seq > 0;
            DROP INDEX outbox_unpublished;
            """
    )
}
