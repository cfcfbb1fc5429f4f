-- Photo facts read from the bytes, the program catalogue from program.published, appeals, and the status
-- 'appealed'.
ALTER TABLE submissions DROP CONSTRAINT submissions_status_check;
ALTER TABLE submissions ADD CONSTRAINT submissions_status_check
    CHECK (status IN ('received', 'in_review', 'approved', 'rejected', 'appealed'));
-- From the latest rejection: whether it may still be appealed, and who decided it (auto or a verifier's NIP).
ALTER TABLE submissions ADD COLUMN appealable boolean NOT NULL DEFAULT false;
ALTER TABLE submissions ADD COLUMN decided_by text;
-- The program version the submission was validated against (NULL when intake knew no program yet).
ALTER TABLE submissions ADD COLUMN program_version text;

CREATE INDEX submissions_by_nip_status ON submissions (nip, status, submitted_at DESC, id DESC);

ALTER TABLE submission_evidence ADD COLUMN perceptual_hash text CHECK (perceptual_hash ~ '^[0-9a-f]{16}$');
ALTER TABLE submission_evidence ADD COLUMN width integer CHECK (width > 0);
ALTER TABLE submission_evidence ADD COLUMN height integer CHECK (height > 0);
-- CaptureMetadata as JSON (the contract's field names).
ALTER TABLE submission_evidence ADD COLUMN capture jsonb;

-- The current version of each program, as last published by scoring (event-carried state).
CREATE TABLE programs (
    program text PRIMARY KEY,
    version text NOT NULL,
    published_at timestamptz NOT NULL,
    payload jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- One appeal per submission (UNIQUE): the second is refused.
CREATE TABLE appeals (
    id uuid PRIMARY KEY,
    submission_id uuid NOT NULL UNIQUE REFERENCES submissions (id),
    nip text NOT NULL,
    statement text NOT NULL CHECK (char_length(statement) BETWEEN 10 AND 1000),
    filed_at timestamptz NOT NULL
);
