-- The webhook dispatcher claims due deliveries endpoint by endpoint (each up to its share of the sends in flight),
-- so it reads them by endpoint: with one index on due time only, a claim walked past every due delivery of an
-- endpoint that already had its share (20,000 on a campaign day) to reach another's. Expired leases are found by
-- their own small index instead of a scan of the whole queue.
DROP INDEX webhook_deliveries_due;
CREATE INDEX webhook_deliveries_endpoint_due ON webhook_deliveries (endpoint_id, next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_leases ON webhook_deliveries (lease_until) WHERE status = 'sending';
