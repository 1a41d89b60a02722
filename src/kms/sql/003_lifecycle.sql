-- 003_lifecycle: rotation, compromise and destruction (docs/kms-lifecycle.md).
--
-- New tables only: the state CHECKs of 001 stay as they are (SQLite cannot
-- change a CHECK without rebuilding the table). A key whose deletion is
-- asked for keeps its state in root_keys / issued_keys until every HSM is
-- found empty at its index; the destruction rows carry `destroy_pending`.

-- Who did what to a root key and its issued copies, and why: the "who"
-- and "when" of the records (工作表格).
CREATE TABLE key_events (
	id INTEGER PRIMARY KEY,
	root_key_id BIGINT NOT NULL REFERENCES root_keys (id),
	kind TEXT NOT NULL CHECK (kind IN ('generated', 'issued', 'rotated',
	    'compromised', 'reissued', 'destroy_requested', 'destroyed')),
	actor TEXT NOT NULL,               -- user name(s), as the server says
	proposal_id BIGINT REFERENCES proposals (id),
	reason TEXT,                       -- compromise, destruction
	time BIGINT NOT NULL
);
CREATE INDEX key_events_root ON key_events (root_key_id);

-- One row per key to delete in one HSM: the root key in its root HSM
-- (issued_key_id NULL) and every issued copy. Deletion is the HSM
-- security admin's keys.delete on the management port; the KMS confirms
-- it by BU answering ERR 12 at the index.
CREATE TABLE key_destructions (
	id INTEGER PRIMARY KEY,
	root_key_id BIGINT NOT NULL REFERENCES root_keys (id),
	issued_key_id BIGINT REFERENCES issued_keys (id),
	hsm_id BIGINT NOT NULL REFERENCES hsms (id),
	alg TEXT NOT NULL CHECK (alg IN ('DES', 'SM4')),
	idx BIGINT NOT NULL CHECK (idx BETWEEN 0 AND 4095),
	kcv TEXT NOT NULL,                 -- the key that must be gone
	state TEXT NOT NULL CHECK (state IN ('destroy_pending', 'destroyed')),
	requested BIGINT NOT NULL,
	confirmed BIGINT,                  -- BU found the index empty
	UNIQUE (root_key_id, hsm_id, alg, idx)
);
CREATE INDEX key_destructions_root ON key_destructions (root_key_id);
