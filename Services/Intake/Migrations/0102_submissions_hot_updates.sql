-- Status changes as HOT updates (no new index entries): the projection of submission.verified/rejected and
-- points.awarded rewrites status, points, reason and updated_at of every submission at least twice. status was in
-- submissions_by_nip_status, so each such update inserted a new entry into all four indexes of the table (5,495 of
-- 33,221 updates were HOT in the end-to-end bench). The ASN's list filtered by status walks submissions_by_nip (one
-- ASN has dozens of submissions a quarter, not thousands), and pages filled to 80 % leave room on the page for the
-- new row versions.
DROP INDEX submissions_by_nip_status;
ALTER TABLE submissions SET (fillfactor = 80);
