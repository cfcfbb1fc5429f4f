-- What verification knows of each submission it has checked (a local copy from submission.received).
CREATE TABLE submissions (
    id uuid PRIMARY KEY,
    nip text NOT NULL,
    opd text NOT NULL,
    program text NOT NULL,
    activity text NOT NULL,
    place text NOT NULL,
    activity_at timestamptz NOT NULL,
    submitted_at timestamptz NOT NULL,
    quantity double precision NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX submissions_nip ON submissions (nip, activity_at);

-- Every photo ever submitted, by SHA-256: the first submission that used it owns it.
CREATE TABLE evidence_fingerprints (
    sha256 text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    submission_id uuid NOT NULL REFERENCES submissions (id),
    nip text NOT NULL,
    first_seen_at timestamptz NOT NULL DEFAULT now()
);

-- One decision per submission (appeals and audits add their own records in later versions).
CREATE TABLE decisions (
    submission_id uuid PRIMARY KEY REFERENCES submissions (id),
    outcome text NOT NULL CHECK (outcome IN ('approved', 'rejected', 'review')),
    reason_code text,
    reason text,
    checks text[] NOT NULL DEFAULT '{}',
    decided_by text NOT NULL,
    decided_at timestamptz NOT NULL DEFAULT now()
);
