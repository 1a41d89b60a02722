-- 006_record_signoff: a supervisor's electronic sign-off of a work form
-- (docs/api.md "Records"): which root key's record it is and the SM3 of
-- the record as signed, so that a later change of the record shows.
ALTER TABLE records ADD COLUMN root_key_id BIGINT REFERENCES root_keys (id);
ALTER TABLE records ADD COLUMN sm3 TEXT;
CREATE INDEX records_key ON records (kind, root_key_id);
-- One sign-off of a content by a supervisor (kms_rec_sign checks first,
-- in the same transaction; the index holds under concurrent requests).
CREATE UNIQUE INDEX records_signoff ON records (kind, root_key_id, sm3,
	signed_by) WHERE sm3 IS NOT NULL;
