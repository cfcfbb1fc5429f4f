-- Contacts from the roster (asn.enrolled / asn.updated): where a person can be reached and whether they accept
-- WhatsApp/SMS messages. OPD heads receive the notifications that concern their whole OPD.
CREATE TABLE contacts (
    nip text PRIMARY KEY,
    name text NOT NULL,
    opd text NOT NULL,
    phone text,
    email text,
    messaging_opt_in boolean NOT NULL DEFAULT false,
    opd_head boolean NOT NULL DEFAULT false,
    active boolean NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL
);
CREATE INDEX contacts_opd_heads ON contacts (opd) WHERE opd_head AND active;

-- What notification learnt about submissions (from submission.verified), so later messages can name the day.
CREATE TABLE submission_facts (
    submission_id uuid PRIMARY KEY,
    program text NOT NULL,
    activity text NOT NULL,
    activity_at timestamptz NOT NULL
);

ALTER TABLE notifications ADD COLUMN kind text;

-- WhatsApp/SMS messages: one per ASN, event and channel (at most once per channel per event).
-- status: pending → sending → sent | failed (retries exhausted) | unknown (the process died while sending:
-- not sent again, so a message is never sent twice).
CREATE TABLE gateway_messages (
    id uuid PRIMARY KEY,
    nip text NOT NULL,
    event_id text NOT NULL,
    channel text NOT NULL,
    phone text NOT NULL,
    body text NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    UNIQUE (event_id, channel, nip)
);
CREATE INDEX gateway_messages_due ON gateway_messages (next_attempt_at) WHERE status = 'pending';

-- Webhook subscriptions (Standard Webhooks).
CREATE TABLE webhook_endpoints (
    id uuid PRIMARY KEY,
    url text NOT NULL,
    event_types text[] NOT NULL,
    description text NOT NULL DEFAULT '',
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    enabled boolean NOT NULL DEFAULT true,
    disabled_reason text,
    disabled_at timestamptz,
    failing_since timestamptz,
    deleted_at timestamptz
);
CREATE INDEX webhook_endpoints_types ON webhook_endpoints USING gin (event_types) WHERE enabled AND deleted_at IS NULL;

-- Signing secrets; while a secret is rotated the old one stays valid until expires_at and both sign.
CREATE TABLE webhook_secrets (
    endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id),
    secret text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    PRIMARY KEY (endpoint_id, secret)
);

-- The durable delivery queue: one delivery per endpoint and event (the webhook channel's at-most-once key).
-- status: pending → sending → delivered | failed (schedule exhausted) | cancelled (endpoint disabled or deleted).
CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY,
    endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id),
    event_id text NOT NULL,
    event_type text NOT NULL,
    body text NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz,
    last_status integer,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

-- The delivery log: every attempt.
CREATE TABLE webhook_attempts (
    id bigserial PRIMARY KEY,
    delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id),
    endpoint_id uuid NOT NULL,
    attempt integer NOT NULL,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    status_code integer,
    error text,
    duration_ms integer NOT NULL
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id DESC);

-- The live stream's retained window (Last-Event-ID resumes from here): kept ≥ 24 h and ≥ the last 10,000 events.
CREATE TABLE stream_events (
    seq bigserial PRIMARY KEY,
    event_id text NOT NULL UNIQUE,
    event_name text NOT NULL,
    body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A stable order and cursor for the inbox (created_at is the same for a whole batch).
ALTER TABLE notifications ADD COLUMN seq bigserial;
CREATE INDEX notifications_nip_seq ON notifications (nip, seq DESC);
CREATE INDEX notifications_unread ON notifications (nip) WHERE read_at IS NULL;
