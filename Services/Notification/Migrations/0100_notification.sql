-- The in-app inbox: one row per ASN, event and channel — a notification is delivered at most once per channel.
CREATE TABLE notifications (
    id uuid PRIMARY KEY,
    nip text NOT NULL,
    event_id text NOT NULL,
    event_type text NOT NULL,
    channel text NOT NULL DEFAULT 'inapp',
    title text NOT NULL,
    body text NOT NULL,
    title_en text,
    body_en text,
    submission_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at timestamptz,
    UNIQUE (event_id, channel, nip)
);
CREATE INDEX notifications_nip ON notifications (nip, created_at DESC);

-- Activity names from program.published (event-carried state), for readable messages.
CREATE TABLE activities (
    program text NOT NULL,
    code text NOT NULL,
    name text NOT NULL,
    program_version text NOT NULL,
    PRIMARY KEY (program, code)
);
