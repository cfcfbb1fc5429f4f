-- The two foreign keys on the webhook delivery path cost PostgreSQL about a sixth of its CPU per delivered event
-- (alternating runs of `asnreward-bench notification`: 0.131-0.168 CPU-ms per event without them, 0.159-0.186
-- with): each checks its parent row by an index lookup and locks it FOR KEY SHARE, which for an attempt writes a
-- WAL record for the delivery row it has just updated, and for a delivery makes the two consumers' transactions
-- share a lock on their one endpoint row (a multixact). Neither can fire: endpoints are only soft-deleted
-- (deleted_at), deliveries are never deleted, a delivery is inserted only joined to its enabled endpoint, and an
-- attempt only from the UPDATE … RETURNING of its delivery in the same statement.
ALTER TABLE webhook_attempts DROP CONSTRAINT webhook_attempts_delivery_id_fkey;
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_endpoint_id_fkey;
