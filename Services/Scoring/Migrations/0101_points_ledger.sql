-- The points ledger (DESIGN §4 "Scoring"): append-only. Every award, reversal and penalty is a new row; an
-- ASN's total for a period is the sum of their rows in it.
CREATE TABLE ledger_entries (
    id uuid PRIMARY KEY,
    seq bigserial NOT NULL UNIQUE,
    nip text NOT NULL,
    opd text NOT NULL,
    submission_id uuid NOT NULL,
    program text NOT NULL,
    program_version integer NOT NULL,
    activity text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('award', 'reversal', 'penalty')),
    points integer NOT NULL,
    breakdown jsonb NOT NULL DEFAULT '[]'::jsonb,
    rule_version text NOT NULL,
    -- Quarter of activity_at in Asia/Jakarta, e.g. 2026-Q1 (semesters and years are unions of quarters).
    period text NOT NULL CHECK (period ~ '^[0-9]{4}-Q[1-4]$'),
    activity_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    -- The event that caused the entry (submission.verified / .revoked id), for tracing.
    cause_event_id text,
    reverses uuid REFERENCES ledger_entries (id),
    CHECK ((kind = 'reversal') = (reverses IS NOT NULL)),
    CHECK (kind <> 'award' OR points >= 0)
);

-- A submission is awarded at most once, and an award reversed at most once, even if the inbox were bypassed.
CREATE UNIQUE INDEX ledger_entries_one_award ON ledger_entries (submission_id) WHERE kind = 'award';
CREATE UNIQUE INDEX ledger_entries_one_reversal ON ledger_entries (reverses) WHERE kind = 'reversal';
-- Totals and histories per ASN and period, in ledger order.
CREATE INDEX ledger_entries_asn_period ON ledger_entries (nip, period, seq);
-- Rankings per period (later issues).
CREATE INDEX ledger_entries_period ON ledger_entries (period);

CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Approvals overturned by an audit (submission.revoked). Kept even when no award exists yet, so an approval that
-- arrives after its revocation (redelivery, competing consumers) earns nothing.
CREATE TABLE submission_revocations (
    submission_id uuid PRIMARY KEY,
    nip text NOT NULL,
    reason_code text NOT NULL,
    reason text NOT NULL,
    fraud boolean NOT NULL,
    decided_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER submission_revocations_append_only BEFORE UPDATE OR DELETE ON submission_revocations
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
