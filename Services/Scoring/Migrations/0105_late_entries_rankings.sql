-- Scoring part 2 (issue 11): late entries, ranking indexes and the award's city rank.

-- A late entry: a decision about an activity whose quarter was already closed is counted in the next open quarter
-- (`period`), and remembers the quarter of the activity (`activity_period`). Entries that are not late leave it
-- NULL (their activity quarter is `period`). Adding columns with constant defaults rewrites no rows, so the
-- append-only trigger is not involved.
ALTER TABLE ledger_entries ADD COLUMN activity_period text CHECK (activity_period ~ '^[0-9]{4}-Q[1-4]$');
ALTER TABLE ledger_entries ADD COLUMN late boolean NOT NULL DEFAULT false;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_late_check CHECK (late = (activity_period IS NOT NULL));

-- Rankings of open quarters read points_totals in points order: a page is an index range, a rank one count.
-- Rows sort by (-points, nip), so one row comparison `(-total, nip) > (…)` is the cursor.
CREATE INDEX points_totals_ranking ON points_totals (period, (-total), nip);

-- Rankings of closed periods read the frozen standings in points order, for the city and per OPD.
CREATE INDEX period_standings_points ON period_standings (period, (-points), nip);
CREATE INDEX period_standings_opd_points ON period_standings (period, opd, (-points), nip);

-- The place in the city ranking of the period, beside the award's own place (`rank`, ties broken by who reached
-- the score first, ineligible ASN skipped).
ALTER TABLE awards ADD COLUMN city_rank integer CHECK (city_rank >= 1);
-- The display name of the award scheme (e.g. "ASN Teladan Triwulan").
ALTER TABLE awards ADD COLUMN scheme_name text;
CREATE INDEX awards_scheme_period ON awards (scheme, period, nip);
