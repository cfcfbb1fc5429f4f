-- The ISO weeks (Jakarta time) in which each ASN has approved work: per ASN and week, the number of awards with
-- points that no reversal has cancelled. The streak rule reads it instead of the ASN's awards of the last weeks
-- (about 25 heap rows per ASN on every decision). Like points_totals it is kept beside the append-only ledger by a
-- statement-level trigger from the rows actually inserted, so it always equals what the ledger says;
-- PointsLedger.awardWeeksDisagreeingWithLedger lists any (ASN, week) where it would not.
-- week: days since 1970-01-01 in Jakarta (UTC+7), less 4 (1970-01-01 was a Thursday), divided by 7, rounded
-- down: JakartaCalendar.weekIndex.
CREATE TABLE award_weeks (
    nip text NOT NULL,
    week bigint NOT NULL,
    awards integer NOT NULL,
    PRIMARY KEY (nip, week)
);

CREATE FUNCTION jakarta_week(at timestamptz) RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN floor((floor((extract(epoch FROM at) + 25200) / 86400) - 4) / 7)::bigint;

INSERT INTO award_weeks (nip, week, awards)
SELECT e.nip, jakarta_week(e.activity_at), count(*)
FROM ledger_entries e
WHERE e.kind = 'award' AND e.points > 0
  AND NOT EXISTS (SELECT 1 FROM ledger_entries r WHERE r.reverses = e.id AND r.kind = 'reversal')
GROUP BY 1, 2;

CREATE FUNCTION award_weeks_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO award_weeks AS w (nip, week, awards)
    SELECT nip, week, sum(delta) FROM (
        SELECT nip, jakarta_week(activity_at) AS week, 1 AS delta
        FROM inserted WHERE kind = 'award' AND points > 0
        UNION ALL
        SELECT e.nip, jakarta_week(e.activity_at), -1
        FROM inserted r JOIN ledger_entries e ON e.id = r.reverses
        WHERE r.kind = 'reversal' AND e.kind = 'award' AND e.points > 0
    ) AS changes
    GROUP BY nip, week
    ORDER BY nip, week
    ON CONFLICT (nip, week) DO UPDATE SET awards = w.awards + EXCLUDED.awards;
    RETURN NULL;
END
$$;

CREATE TRIGGER ledger_entries_award_weeks AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION award_weeks_add();
