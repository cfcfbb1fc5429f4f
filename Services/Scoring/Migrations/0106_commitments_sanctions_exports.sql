-- Scoring part 2, obligations (DESIGN §4 "Scoring"): Lelang Kinerja commitments and their evaluation at a period's
-- close, sanctions, each OPD's participation (the collective rule) and the HR export rows frozen by the close.

-- An OPD's target for a period (quarter, semester or year). One commitment per OPD, period and metric.
CREATE TABLE commitments (
    id uuid PRIMARY KEY,
    opd text NOT NULL,
    period text NOT NULL CHECK (period ~ '^[0-9]{4}(-Q[1-4]|-S[12])?$'),
    metric text NOT NULL CHECK (metric IN ('participation_rate', 'kg_sorted', 'approved_activities')),
    target double precision NOT NULL CHECK (target >= 0),
    baseline double precision NOT NULL CHECK (baseline >= 0),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (opd, period, metric)
);
CREATE INDEX commitments_period ON commitments (period, opd);

-- The outcome of each commitment, written once by the period's close.
CREATE TABLE commitment_results (
    commitment_id uuid PRIMARY KEY REFERENCES commitments (id),
    period text NOT NULL,
    actual double precision NOT NULL,
    met boolean NOT NULL,
    -- ASN of the OPD with no approved activity in the period (listed for the low-performance sanction on a miss).
    inactive_count integer NOT NULL,
    evaluated_at timestamptz NOT NULL
);

-- Sanctions: an OPD's for a missed commitment (nip NULL), an ASN's for low performance. Confidential: read only by
-- the ASN concerned, their OPD head, BKPP (scoring-admin) and the Inspektorat (auditor).
CREATE TABLE sanctions (
    seq bigserial UNIQUE,
    id uuid PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('commitment_missed', 'low_performance')),
    period text NOT NULL,
    opd text NOT NULL,
    nip text,
    name text,
    commitment_id uuid REFERENCES commitments (id),
    reason text NOT NULL,
    tpp_adjustment_percent double precision,
    imposed_at timestamptz NOT NULL,
    CHECK ((kind = 'low_performance') = (nip IS NOT NULL))
);
CREATE UNIQUE INDEX sanctions_one_per_commitment ON sanctions (commitment_id) WHERE kind = 'commitment_missed';
CREATE UNIQUE INDEX sanctions_one_low_performance ON sanctions (period, nip) WHERE kind = 'low_performance';
CREATE INDEX sanctions_period_opd ON sanctions (period, opd, seq);
CREATE INDEX sanctions_nip ON sanctions (nip, period) WHERE nip IS NOT NULL;

-- Each OPD's participation in a closed period (active roster ASN with at least one approved activity) and whether
-- the collective rule withheld its TPP adjustment.
CREATE TABLE opd_participation (
    period text NOT NULL,
    opd text NOT NULL,
    active_asn integer NOT NULL,
    participating_asn integer NOT NULL,
    participation_rate double precision NOT NULL,
    min_participation_rate double precision,
    tpp_withheld boolean NOT NULL,
    PRIMARY KEY (period, opd)
);

-- The HR export of a closed period (SIMPEG / e-Kinerja / SIASN), frozen by the close in export order.
CREATE TABLE period_export_rows (
    period text NOT NULL,
    position integer NOT NULL,
    nip text NOT NULL,
    name text NOT NULL,
    opd text NOT NULL,
    points bigint NOT NULL,
    city_rank integer,
    opd_rank integer,
    award text NOT NULL,
    sanction text NOT NULL,
    tpp_adjustment_percent double precision NOT NULL,
    tpp_withheld boolean NOT NULL,
    PRIMARY KEY (period, position),
    UNIQUE (period, nip)
);
CREATE INDEX period_export_rows_opd ON period_export_rows (period, opd, position);

CREATE TRIGGER commitment_results_append_only BEFORE UPDATE OR DELETE ON commitment_results
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER sanctions_append_only BEFORE UPDATE OR DELETE ON sanctions
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER opd_participation_append_only BEFORE UPDATE OR DELETE ON opd_participation
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER period_export_rows_append_only BEFORE UPDATE OR DELETE ON period_export_rows
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
