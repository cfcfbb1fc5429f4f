-- Verification's local copies of what other services own (event-carried state, through the inbox).

-- The roster (asn.enrolled / asn.updated): each ASN's OPD and registered office/home locations (geofence).
CREATE TABLE roster (
    nip text PRIMARY KEY,
    name text NOT NULL,
    opd text NOT NULL,
    active boolean NOT NULL DEFAULT true,
    locations jsonb NOT NULL DEFAULT '[]',
    updated_at timestamptz NOT NULL
);

-- The latest version of each program (program.published), kept whole: activities, caps and verification policy.
CREATE TABLE programs (
    program text PRIMARY KEY,
    version text NOT NULL,
    published_at timestamptz NOT NULL,
    document jsonb NOT NULL
);

-- Scoring's active earning bans (penalty.applied with earningBannedUntil).
CREATE TABLE earning_bans (
    nip text PRIMARY KEY,
    banned_until timestamptz NOT NULL,
    reason_code text,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- What the checks need of each submission besides what 0100 kept.
ALTER TABLE submissions
    ADD COLUMN name text,
    ADD COLUMN unit text,
    ADD COLUMN note text,
    ADD COLUMN program_version text,
    -- Asia/Jakarta calendar day and ISO week (its Monday) of activity_at, for the daily and weekly caps.
    ADD COLUMN activity_day date,
    ADD COLUMN activity_week date,
    -- pending (being checked), approved, rejected, review (waiting for a person), revoked (an audit overturned it).
    ADD COLUMN status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'approved', 'rejected', 'review', 'revoked')),
    ADD COLUMN device_location jsonb,
    ADD COLUMN evidence jsonb NOT NULL DEFAULT '[]',
    -- What the claim is worth by the program's rules (four-eyes threshold).
    ADD COLUMN points double precision;
CREATE INDEX submissions_daily_cap ON submissions (nip, activity, activity_day) WHERE status IN ('approved', 'review');
CREATE INDEX submissions_weekly_cap ON submissions (nip, activity, activity_week) WHERE status IN ('approved', 'review');

-- Perceptual hashes (64-bit dHash) of every photo, indexed for NEAR_DUPLICATE_EVIDENCE by multi-index hashing:
-- the hash is cut into four 16-bit bands; two hashes within Hamming distance d agree within floor(d/4) bits on at
-- least one band (pigeonhole), so a lookup probes each band's value and its neighbours within that radius and
-- computes the exact distance only for those candidates. Each band index carries the hash and the row id, so a
-- lookup is index-only (measured: ~1 ms per lookup at 1,000,000 hashes, against ~20 ms with heap fetches).
CREATE TABLE perceptual_hashes (
    id bigserial PRIMARY KEY,
    sha256 text NOT NULL UNIQUE,
    submission_id uuid NOT NULL,
    nip text NOT NULL,
    hash bigint NOT NULL,
    band0 integer NOT NULL,
    band1 integer NOT NULL,
    band2 integer NOT NULL,
    band3 integer NOT NULL
);
CREATE INDEX perceptual_hashes_band0 ON perceptual_hashes (band0) INCLUDE (hash, id);
CREATE INDEX perceptual_hashes_band1 ON perceptual_hashes (band1) INCLUDE (hash, id);
CREATE INDEX perceptual_hashes_band2 ON perceptual_hashes (band2) INCLUDE (hash, id);
CREATE INDEX perceptual_hashes_band3 ON perceptual_hashes (band3) INCLUDE (hash, id);

-- The current decision of each submission (its history is in audit_trail).
ALTER TABLE decisions DROP CONSTRAINT decisions_outcome_check;
ALTER TABLE decisions
    ADD CONSTRAINT decisions_outcome_check CHECK (outcome IN ('approved', 'rejected', 'review', 'revoked')),
    ADD COLUMN reason_codes text[] NOT NULL DEFAULT '{}',
    ADD COLUMN method text NOT NULL DEFAULT 'auto' CHECK (method IN ('auto', 'manual')),
    ADD COLUMN fraud boolean NOT NULL DEFAULT false,
    ADD COLUMN appealable boolean NOT NULL DEFAULT false,
    ADD COLUMN sampled_for_audit boolean NOT NULL DEFAULT false,
    ADD COLUMN on_appeal boolean NOT NULL DEFAULT false,
    ADD COLUMN note text;

-- The human review queue. An item is open, claimed (a lease that expires) or decided. An expired lease counts as
-- open again. `excluded` lists verifiers who may not take the item (the first decider of an appealed rejection,
-- the first approver of a four-eyes claim).
CREATE TABLE reviews (
    id uuid PRIMARY KEY,
    submission_id uuid NOT NULL REFERENCES submissions (id),
    trigger text NOT NULL CHECK (trigger IN ('checks', 'audit_sample', 'appeal', 'second_review')),
    checks text[] NOT NULL DEFAULT '{}',
    state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'claimed', 'decided')),
    created_at timestamptz NOT NULL DEFAULT now(),
    claimed_by text,
    lease_expires_at timestamptz,
    excluded text[] NOT NULL DEFAULT '{}',
    approvals text[] NOT NULL DEFAULT '{}',
    required_approvals integer NOT NULL DEFAULT 1,
    appeal_id uuid,
    appeal_statement text,
    outcome text CHECK (outcome IN ('approved', 'rejected')),
    reason_code text,
    note text,
    decided_by text,
    decided_at timestamptz
);
CREATE INDEX reviews_queue ON reviews (created_at) WHERE state <> 'decided';
CREATE INDEX reviews_submission ON reviews (submission_id);
CREATE UNIQUE INDEX reviews_appeal ON reviews (appeal_id) WHERE appeal_id IS NOT NULL;

-- The append-only audit trail of every check and decision.
CREATE TABLE audit_trail (
    seq bigserial PRIMARY KEY,
    submission_id uuid NOT NULL,
    review_id uuid,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor text NOT NULL,
    kind text NOT NULL,
    code text,
    result text,
    details jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_trail_submission ON audit_trail (submission_id, seq);
CREATE INDEX audit_trail_at ON audit_trail (at, seq);

CREATE FUNCTION audit_trail_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_trail is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_trail_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_trail
    FOR EACH STATEMENT EXECUTE FUNCTION audit_trail_append_only();
