-- The delivery log (GET /v1/webhooks/{id}/deliveries) shows an endpoint's deliveries newest first, a page at a
-- time. It found them by the (endpoint_id, event_id) key and sorted all of them: 0.77 s for an endpoint with
-- 20,000 deliveries, growing with every event a campaign day sends. Delivery ids are time-ordered (0104), so this
-- index reads a page in id order, and each insert lands at the right edge of its endpoint's range.
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (endpoint_id, id DESC);
