-- 004_maint: maintenance applications (docs/api.md "Maintenance
-- applications", docs/maintenance.md).
--
-- New columns and a new table only: the state CHECK of 001 stays as it is
-- (SQLite cannot change a CHECK without rebuilding the table); this
-- version uses imported, licensed, signed and exported of it.

-- What the request binds (nonce, identity key) and what the update
-- carries (seq, enforce), who signs it (root HSM, key index) and with
-- which key (fingerprint). NULL until known.
ALTER TABLE maint_apps ADD COLUMN nonce TEXT;        -- 32 hex digits
ALTER TABLE maint_apps ADD COLUMN identity TEXT;     -- X || Y, 128 hex
ALTER TABLE maint_apps ADD COLUMN seq BIGINT;
ALTER TABLE maint_apps ADD COLUMN enforce BIGINT;    -- 0 / 1
ALTER TABLE maint_apps ADD COLUMN root_hsm_id BIGINT REFERENCES hsms (id);
ALTER TABLE maint_apps ADD COLUMN key_index BIGINT;  -- SM2 index, 1..20
ALTER TABLE maint_apps ADD COLUMN mkey TEXT;         -- fingerprint
-- An update answers one request: a nonce is imported once.
CREATE UNIQUE INDEX maint_apps_nonce ON maint_apps (nonce);
CREATE INDEX maint_apps_serial ON maint_apps (serial);

-- The identity key of each HSM serial, as its first imported request
-- named it: a later request of that serial signed by another key is
-- refused (trust on first use, unless the importer gave the key).
CREATE TABLE maint_identities (
	serial TEXT PRIMARY KEY,
	identity TEXT NOT NULL,            -- X || Y, 128 hex digits
	app_id BIGINT NOT NULL REFERENCES maint_apps (id),
	created BIGINT NOT NULL
);
