-- Scoring part 2 (DESIGN §4 "Scoring"): periods and their close, the standings frozen at close, and awards.
-- A period is a quarter (2026-Q1), a semester (2026-S1) or a year (2026) in Asia/Jakarta time. A row exists once
-- the period is listed or closed; a period without a row is open.
CREATE TABLE periods (
    id text PRIMARY KEY CHECK (id ~ '^[0-9]{4}(-Q[1-4]|-S[12])?$'),
    kind text NOT NULL CHECK (kind IN ('quarter', 'semester', 'year')),
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL CHECK (ends_at > starts_at),
    state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    closed_at timestamptz,
    closed_by text,
    CHECK ((state = 'closed') = (closed_at IS NOT NULL))
);

-- The ranking of a closed period, frozen by the close: one row per ASN with a ledger entry counted in the period.
-- `reached_seq` is the ledger seq of the ASN's last entry that changed their total in the period: the earlier, the
-- sooner they reached their final score (award tie-break).
CREATE TABLE period_standings (
    period text NOT NULL REFERENCES periods (id),
    nip text NOT NULL,
    name text NOT NULL,
    opd text NOT NULL,
    points bigint NOT NULL,
    city_rank integer NOT NULL CHECK (city_rank >= 1),
    opd_rank integer NOT NULL CHECK (opd_rank >= 1),
    reached_seq bigint NOT NULL,
    PRIMARY KEY (period, nip)
);
CREATE INDEX period_standings_city ON period_standings (period, city_rank, nip);
CREATE INDEX period_standings_opd ON period_standings (period, opd, opd_rank, nip);

-- Awards granted at a period's close (quarterly top N, semester shortlist, yearly winner).
CREATE TABLE awards (
    award_id uuid PRIMARY KEY,
    program text NOT NULL,
    scheme text NOT NULL,
    stage text NOT NULL CHECK (stage IN ('quarterly', 'semester', 'yearly')),
    period text NOT NULL REFERENCES periods (id),
    nip text NOT NULL,
    name text,
    opd text NOT NULL,
    rank integer NOT NULL CHECK (rank >= 1),
    points bigint NOT NULL,
    prize text NOT NULL,
    prize_amount_rupiah bigint,
    granted_at timestamptz NOT NULL,
    UNIQUE (scheme, stage, period, nip)
);
CREATE INDEX awards_period ON awards (period, stage, rank);

CREATE TRIGGER period_standings_append_only BEFORE UPDATE OR DELETE ON period_standings
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER awards_append_only BEFORE UPDATE OR DELETE ON awards
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
