-- Scoring part 1 (issue 10): the inputs the ledger was computed from (for replay), bonus/correction entries,
-- campaigns, earning bans and the roster.

-- Every decision scoring consumed, in the order it was applied (per ASN: the per-ASN lock is held while the row is
-- inserted, so seq order is processing order). Replay (POST /v1/recompute) feeds these through the rules again.
-- One row per (kind, submission): a decision delivered twice under different message ids is applied once.
CREATE TABLE decision_inputs (
    seq bigserial PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('verified', 'rejected', 'revoked')),
    submission_id uuid NOT NULL,
    nip text NOT NULL,
    opd text NOT NULL,
    program text,
    activity text,
    place text,
    quantity double precision,
    activity_at timestamptz,
    decided_at timestamptz NOT NULL,
    fraud boolean NOT NULL DEFAULT false,
    reason_code text,
    reason text,
    name text,
    event_id text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, submission_id)
);
CREATE INDEX decision_inputs_nip ON decision_inputs (nip, seq);

-- Revocations recorded before this migration are inputs too.
INSERT INTO decision_inputs (kind, submission_id, nip, opd, decided_at, fraud, reason_code, reason, event_id)
SELECT 'revoked', submission_id, nip, '', decided_at, fraud, reason_code, reason, 'migrated'
FROM submission_revocations;

CREATE TRIGGER decision_inputs_append_only BEFORE UPDATE OR DELETE ON decision_inputs
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Bonus (streak) and correction (replay) entries; penalties and corrections may have no program version.
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
    CHECK (kind IN ('award', 'reversal', 'penalty', 'bonus', 'correction'));
ALTER TABLE ledger_entries ALTER COLUMN program_version DROP NOT NULL;


CREATE UNIQUE INDEX ledger_entries_one_penalty ON ledger_entries (submission_id) WHERE kind = 'penalty';
CREATE UNIQUE INDEX ledger_entries_one_bonus ON ledger_entries (submission_id) WHERE kind = 'bonus';
-- The rules' view of an ASN around a batch: credits by activity time, entries by submission.
CREATE INDEX ledger_entries_asn_credits ON ledger_entries (nip, activity_at) WHERE kind IN ('award', 'bonus');
CREATE INDEX ledger_entries_submission ON ledger_entries (submission_id);
CREATE INDEX ledger_entries_asn_penalties ON ledger_entries (nip, activity_at) WHERE kind = 'penalty';
CREATE INDEX ledger_entries_reverses ON ledger_entries (reverses) WHERE reverses IS NOT NULL;

-- Campaign multipliers (DESIGN §4): a time window in which approved activities earn more. Overlapping campaigns
-- take the highest multiplier.
CREATE TABLE campaigns (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    multiplier numeric(6, 3) NOT NULL CHECK (multiplier > 0),
    activities text[],
    program text,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL CHECK (ends_at > starts_at),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaigns_window ON campaigns (starts_at, ends_at);

-- The roster: one row per ASN, replaced by imports (POST /v1/roster); every change is published as asn.enrolled or
-- asn.updated.
CREATE TABLE roster (
    nip text PRIMARY KEY,
    nip_kind text NOT NULL CHECK (nip_kind IN ('pns', 'pppk')),
    name text NOT NULL,
    opd text NOT NULL,
    unit text,
    phone text,
    email text,
    office_lat double precision,
    office_lon double precision,
    home_lat double precision,
    home_lon double precision,
    active boolean NOT NULL,
    enrolled_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX roster_opd ON roster (opd);

-- Temporary earning bans after repeated fraud (published in penalty.applied's earningBannedUntil). Approvals
-- decided while a ban runs earn nothing.
CREATE TABLE earning_bans (
    penalty_entry_id uuid PRIMARY KEY REFERENCES ledger_entries (id),
    nip text NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL CHECK (ends_at > starts_at),
    fraud_count integer NOT NULL,
    rule_version text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX earning_bans_nip ON earning_bans (nip, ends_at);
CREATE TRIGGER earning_bans_append_only BEFORE UPDATE OR DELETE ON earning_bans
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
