-- Program versions (DESIGN §4 "Programs and activities"): one row per version of a program file, never changed
-- afterwards, so totals can be recomputed under any version. The current version is the highest.
CREATE TABLE programs (
    code text NOT NULL,
    version integer NOT NULL CHECK (version > 0),
    name text NOT NULL,
    document jsonb NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (code, version)
);

-- Refuses UPDATE and DELETE on append-only tables (a correction is a new row).
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'append a correcting row instead';
END
$$;

CREATE TRIGGER programs_append_only BEFORE UPDATE OR DELETE ON programs
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER programs_no_truncate BEFORE TRUNCATE ON programs
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
