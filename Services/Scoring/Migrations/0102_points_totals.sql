-- Each ASN's total per period (quarter), kept incrementally beside the ledger: the ledger stays the append-only
-- source of truth, this table only saves re-summing an ASN's history on every award. A statement-level trigger
-- adds each insert's rows (only those actually inserted: ON CONFLICT DO NOTHING skips are not in the transition
-- table), so totals always equal the ledger's sums; points_totals_check() says whether they do.
CREATE TABLE points_totals (
    nip text NOT NULL,
    period text NOT NULL,
    total bigint NOT NULL,
    entries integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (nip, period)
);

INSERT INTO points_totals (nip, period, total, entries)
SELECT nip, period, sum(points), count(*) FROM ledger_entries GROUP BY nip, period;

CREATE FUNCTION points_totals_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO points_totals AS t (nip, period, total, entries)
    SELECT nip, period, sum(points), count(*) FROM inserted GROUP BY nip, period
    ORDER BY nip, period
    ON CONFLICT (nip, period) DO UPDATE
        SET total = t.total + EXCLUDED.total, entries = t.entries + EXCLUDED.entries, updated_at = now();
    RETURN NULL;
END
$$;

CREATE TRIGGER ledger_entries_totals AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION points_totals_add();
