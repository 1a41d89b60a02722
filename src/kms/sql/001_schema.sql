-- 001_schema: the KMS tables (docs/kms-schema.md).
--
-- One schema for SQLite and PostgreSQL: types TEXT, BIGINT and BLOB only;
-- the layer maps BLOB to BYTEA and INTEGER PRIMARY KEY to a generated
-- 64-bit identity for PostgreSQL (kdb_script). Times are Unix seconds
-- (UTC), flags 0/1, hex values upper case, JSON as TEXT.

CREATE TABLE users (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	role TEXT NOT NULL CHECK (role IN
	    ('configurator', 'key_manager', 'supervisor', 'auditor')),
	pwhash TEXT NOT NULL,              -- Argon2id, encoded ($argon2id$...)
	failures BIGINT NOT NULL DEFAULT 0, -- consecutive failed logins
	locked_until BIGINT NOT NULL DEFAULT 0,
	state TEXT NOT NULL DEFAULT 'active'
	    CHECK (state IN ('active', 'disabled')),
	created BIGINT NOT NULL
);

CREATE TABLE sessions (
	token_hash BLOB PRIMARY KEY,       -- SM3 of the bearer token
	user_id BIGINT NOT NULL REFERENCES users (id),
	created BIGINT NOT NULL,
	expires BIGINT NOT NULL,
	last_seen BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- The provincial authority, the operator and the cities of appendix 1.
CREATE TABLE institutions (
	id INTEGER PRIMARY KEY,
	kind TEXT NOT NULL CHECK (kind IN ('authority', 'operator', 'city')),
	name TEXT NOT NULL UNIQUE,
	name_en TEXT NOT NULL,
	city_code TEXT UNIQUE,             -- 城市代码, 4 digits
	iin TEXT,                          -- 卡片IIN号（扩展）, e.g. 310487(03)
	cert_record TEXT UNIQUE,           -- 公钥证书申请记录号, 6 digits
	issuer_code TEXT UNIQUE,           -- 发卡机构代码, 8 digits
	seq BIGINT NOT NULL,               -- row of appendix 1 (cities 1..21)
	created BIGINT NOT NULL,
	CHECK (kind <> 'city' OR (city_code IS NOT NULL AND iin IS NOT NULL
	    AND cert_record IS NOT NULL AND issuer_code IS NOT NULL))
);

CREATE TABLE hsms (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	role TEXT NOT NULL CHECK (role IN
	    ('root', 'provincial_business', 'clearing', 'city', 'standby')),
	city_id BIGINT REFERENCES institutions (id), -- business and city HSMs
	host TEXT NOT NULL,
	port BIGINT NOT NULL CHECK (port BETWEEN 1 AND 65535),
	header_len BIGINT NOT NULL DEFAULT 8,        -- host-command header
	mgmt_host TEXT,
	mgmt_port BIGINT CHECK (mgmt_port BETWEEN 1 AND 65535),
	serial TEXT,
	dk_kcv TEXT,                       -- KCV of the device key (NC)
	health TEXT NOT NULL DEFAULT 'unknown' CHECK (health IN
	    ('unknown', 'ok', 'sealed', 'unreachable', 'error')),
	last_nc BIGINT,                    -- time of the last NC answered
	state TEXT NOT NULL DEFAULT 'active'
	    CHECK (state IN ('active', 'retired')),
	created BIGINT NOT NULL,
	UNIQUE (host, port)
);

-- The card key types of appendix 2, each as DES and SM4.
CREATE TABLE key_templates (
	id INTEGER PRIMARY KEY,
	seq BIGINT NOT NULL UNIQUE,        -- n: row of appendix 2, from 0
	name TEXT NOT NULL UNIQUE,
	name_zh TEXT NOT NULL UNIQUE,      -- 密钥用途
	description TEXT NOT NULL,         -- 说明
	category TEXT NOT NULL CHECK (category IN
	    ('consumption', 'recharge', 'reserved', 'maintenance')),
	type_code TEXT NOT NULL,           -- HSM key type (protocol.md)
	des_index BIGINT NOT NULL UNIQUE CHECK (des_index BETWEEN 0 AND 4095),
	sm4_index BIGINT NOT NULL UNIQUE CHECK (sm4_index BETWEEN 0 AND 4095),
	factor_rule TEXT NOT NULL DEFAULT 'cjt333', -- city factor
	clearing BIGINT NOT NULL DEFAULT 0 CHECK (clearing IN (0, 1)),
	created BIGINT NOT NULL
);

CREATE TABLE root_keys (
	id INTEGER PRIMARY KEY,
	template_id BIGINT NOT NULL REFERENCES key_templates (id),
	alg TEXT NOT NULL CHECK (alg IN ('DES', 'SM4')),
	version BIGINT NOT NULL CHECK (version >= 1),
	hsm_id BIGINT REFERENCES hsms (id), -- the root HSM holding it
	idx BIGINT NOT NULL CHECK (idx BETWEEN 0 AND 4095),
	kcv TEXT,                          -- NULL until generated
	state TEXT NOT NULL CHECK (state IN ('planned', 'active', 'archived',
	    'compromised', 'destroyed')),
	created BIGINT NOT NULL,
	changed BIGINT NOT NULL,
	UNIQUE (template_id, alg, version)
);
-- One active version per key type and algorithm.
CREATE UNIQUE INDEX root_keys_active ON root_keys (template_id, alg)
	WHERE state = 'active';

CREATE TABLE issued_keys (
	id INTEGER PRIMARY KEY,
	root_key_id BIGINT NOT NULL REFERENCES root_keys (id),
	city_id BIGINT NOT NULL REFERENCES institutions (id),
	hsm_id BIGINT NOT NULL REFERENCES hsms (id),
	alg TEXT NOT NULL CHECK (alg IN ('DES', 'SM4')), -- the HSM library
	idx BIGINT NOT NULL CHECK (idx BETWEEN 0 AND 4095),
	kcv TEXT,
	version BIGINT NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'archived',
	    'compromised', 'destroyed', 'failed')),
	created BIGINT NOT NULL,
	changed BIGINT NOT NULL,
	UNIQUE (root_key_id, city_id, hsm_id)
);
-- An HSM library index holds one live key.
CREATE UNIQUE INDEX issued_keys_slot ON issued_keys (hsm_id, alg, idx)
	WHERE state IN ('pending', 'active', 'archived', 'compromised');
CREATE INDEX issued_keys_root ON issued_keys (root_key_id);

-- Dual control: a change takes effect when another user of the same role
-- approves it.
CREATE TABLE proposals (
	id INTEGER PRIMARY KEY,
	kind TEXT NOT NULL,
	role TEXT NOT NULL,                -- the role that may approve
	payload TEXT NOT NULL,             -- JSON
	proposer_id BIGINT NOT NULL REFERENCES users (id),
	state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open',
	    'approved', 'rejected', 'expired', 'withdrawn', 'executed',
	    'failed')),
	approver_id BIGINT REFERENCES users (id),
	created BIGINT NOT NULL,
	expires BIGINT NOT NULL,
	decided BIGINT,
	result TEXT,                       -- JSON: what execution did
	CHECK (approver_id IS NULL OR approver_id <> proposer_id)
);
CREATE INDEX proposals_state ON proposals (state);

-- Hash-chained: hash = SM3 over the previous hash and this record.
CREATE TABLE audit (
	seq BIGINT PRIMARY KEY,            -- 1, 2, ... without gaps
	time BIGINT NOT NULL,
	actor TEXT NOT NULL,
	action TEXT NOT NULL,
	detail TEXT NOT NULL,              -- JSON
	hash BLOB NOT NULL
);

-- Maintenance licences (docs/maintenance.md): request in, update out.
CREATE TABLE maint_apps (
	id INTEGER PRIMARY KEY,
	hsm_id BIGINT REFERENCES hsms (id),
	city_id BIGINT REFERENCES institutions (id),
	serial TEXT NOT NULL,              -- from the request file
	issuer_code TEXT NOT NULL,
	request TEXT NOT NULL,             -- TKMS-MAINT-REQUEST 1, as imported
	licences TEXT,                     -- licence lines set by a key manager
	update_file TEXT,                  -- the signed update file
	state TEXT NOT NULL DEFAULT 'imported' CHECK (state IN ('imported',
	    'licensed', 'approved', 'signed', 'exported', 'rejected')),
	proposal_id BIGINT REFERENCES proposals (id),
	created BIGINT NOT NULL,
	changed BIGINT NOT NULL
);

-- Generation, distribution, destruction and compromise records (工作表格).
CREATE TABLE records (
	id INTEGER PRIMARY KEY,
	kind TEXT NOT NULL CHECK (kind IN ('generation', 'distribution',
	    'destruction', 'compromise', 'maintenance')),
	proposal_id BIGINT REFERENCES proposals (id),
	title TEXT NOT NULL,
	body TEXT NOT NULL,                -- JSON: the form's fields
	created BIGINT NOT NULL,
	signed_by BIGINT REFERENCES users (id), -- supervisor sign-off
	signed BIGINT
);
