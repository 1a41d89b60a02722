-- 005_hsm_authorised: the authorised state of each HSM as its management
-- port last told (NULL: not known: no management port recorded, a TLS
-- one, or it did not answer). Key-management commands need it
-- (docs/kms-flows.md); the fleet view shows it.
ALTER TABLE hsms ADD COLUMN authorised BIGINT CHECK (authorised IN (0, 1));
