-- The delivery log (GET /v1/webhooks/{id}/deliveries) reads a page of deliveries and then their attempts by
-- delivery id, which no index served: every request read the whole attempts table. The index by endpoint that
-- was there served nothing. One index for the other, so each attempt still costs one index entry.
DROP INDEX webhook_attempts_endpoint;
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id);
