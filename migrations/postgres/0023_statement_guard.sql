-- Fails the statement it is called in when `ok` is not true. A write made of several
-- data-modifying parts in one statement (a batch of usage debits) checks with it that every
-- guarded part matched the rows it planned to; raising undoes the whole statement, as a
-- rolled-back transaction would, without the round trips of BEGIN and COMMIT.
CREATE FUNCTION creditline_guard(ok BOOLEAN, what TEXT) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'guard failed: %', what USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN TRUE;
END $$;
