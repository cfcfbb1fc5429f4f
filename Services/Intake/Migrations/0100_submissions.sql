-- Submissions as the ASN sent them, with the status the ASN sees (a projection of verification and scoring
-- events). Runs after the shared outbox/inbox migrations (0001_, 0002_).
CREATE TABLE submissions (
    id uuid PRIMARY KEY,
    nip text NOT NULL,
    name text,
    opd text NOT NULL,
    program text NOT NULL,
    activity text NOT NULL CHECK (activity ~ '^[a-z_]{2,40}$'),
    place text NOT NULL CHECK (place IN ('office', 'home')),
    activity_at timestamptz NOT NULL,
    quantity double precision NOT NULL CHECK (quantity > 0),
    note text,
    device_latitude double precision,
    device_longitude double precision,
    device_accuracy double precision,
    -- Idempotency: one submission per (ASN, key); request_hash tells a replay from a conflicting reuse.
    idempotency_key text NOT NULL,
    request_hash text NOT NULL,
    submitted_at timestamptz NOT NULL,
    -- Status projection: received → in_review → approved / rejected.
    status text NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'in_review', 'approved', 'rejected')),
    points integer,
    reason_code text,
    reason text,
    -- Time of the latest decision applied (verified, rejected, or points awarded); older decisions are ignored.
    decided_at timestamptz,
    updated_at timestamptz NOT NULL,
    CONSTRAINT submissions_idempotency UNIQUE (nip, idempotency_key)
);

CREATE INDEX submissions_by_nip ON submissions (nip, submitted_at DESC, id DESC);

-- The photos of a submission, content-addressed in the evidence store by SHA-256.
CREATE TABLE submission_evidence (
    submission_id uuid NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    position integer NOT NULL CHECK (position BETWEEN 1 AND 3),
    sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    media_type text NOT NULL CHECK (media_type IN ('image/jpeg', 'image/png')),
    size_bytes integer NOT NULL CHECK (size_bytes > 0),
    PRIMARY KEY (submission_id, position)
);

CREATE INDEX submission_evidence_sha256 ON submission_evidence (sha256);
