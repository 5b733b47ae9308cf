"""The SQLite store's schema: numbered migrations, applied in order.

``PRAGMA user_version`` records how far a file has come; :func:`migrate` brings it up to
:data:`SCHEMA_VERSION` under the write lock. A migration is never renumbered or changed
once released: a new one is appended.
"""

from __future__ import annotations

import sqlite3

__all__ = ["SCHEMA_VERSION", "create_at_version", "migrate", "split_sql"]

_MIGRATIONS: tuple[str, ...] = (
    # 1: CAs, certificates, append-only audit log.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE cas (
        id INTEGER PRIMARY KEY,
        label TEXT NOT NULL UNIQUE,
        parent_id INTEGER REFERENCES cas(id),
        style TEXT NOT NULL,
        der BLOB NOT NULL,
        crl_url TEXT NOT NULL,
        ocsp_url TEXT,
        cps_url TEXT,
        cn_sequence INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE certificates (
        id INTEGER PRIMARY KEY,
        ca_id INTEGER NOT NULL REFERENCES cas(id),
        serial TEXT NOT NULL,
        subject TEXT NOT NULL,
        holder TEXT NOT NULL,
        profile TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('valid', 'revoked', 'suspended')),
        not_before TEXT NOT NULL,
        not_after TEXT NOT NULL,
        der BLOB NOT NULL,
        issued_at TEXT NOT NULL,
        key_origin TEXT NOT NULL,
        UNIQUE (serial, ca_id)  -- also the index for look-ups by serial alone
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        action TEXT NOT NULL,
        ca TEXT,
        serial TEXT,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    -- No code path can record a certificate without its audit row.
    CREATE TRIGGER certificates_audit_issue AFTER INSERT ON certificates
    BEGIN
        INSERT INTO audit (at, action, ca, serial, detail)
        SELECT NEW.issued_at, 'certificate.issued', cas.label, NEW.serial,
               json_object('key', NEW.key_origin, 'profile', NEW.profile,
                           'subject', NEW.subject)
        FROM cas WHERE cas.id = NEW.ca_id;
    END;
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    """,
    # 2: lifecycle (revocation, suspension, renewal links), CRL numbering and history.
    """
    ALTER TABLE certificates ADD COLUMN revoked_at TEXT;
    ALTER TABLE certificates ADD COLUMN reason TEXT;
    ALTER TABLE certificates ADD COLUMN invalidity_date TEXT;
    ALTER TABLE certificates ADD COLUMN status_changed_at TEXT;
    ALTER TABLE certificates ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE certificates ADD COLUMN ra TEXT NOT NULL DEFAULT '';
    ALTER TABLE certificates ADD COLUMN alias TEXT NOT NULL DEFAULT '';
    ALTER TABLE certificates ADD COLUMN replaces TEXT;
    ALTER TABLE cas ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE cas ADD COLUMN crl_number INTEGER NOT NULL DEFAULT 0;
    -- What a CRL lists, and what changed since a base CRL, without scanning valid rows.
    CREATE INDEX certificates_on_crl ON certificates (ca_id, not_after)
        WHERE status != 'valid';
    CREATE INDEX certificates_changes ON certificates (ca_id, change_seq)
        WHERE change_seq > 0;
    CREATE INDEX certificates_suspended ON certificates (ca_id, revoked_at)
        WHERE status = 'suspended';
    CREATE TABLE crls (
        id INTEGER PRIMARY KEY,
        ca_id INTEGER NOT NULL REFERENCES cas(id),
        number INTEGER NOT NULL,
        delta_base INTEGER,
        this_update TEXT NOT NULL,
        next_update TEXT NOT NULL,
        change_seq INTEGER NOT NULL,
        entries INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        UNIQUE (ca_id, number)
    );
    """,
    # 3: the financial-certificate cloud (pki.cloud); SQL in pki.store.sqlite.cloud.
    """
    CREATE TABLE institutions (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        api_key_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    );
    CREATE TABLE cloud_users (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        phone TEXT NOT NULL,
        birth_date TEXT NOT NULL,
        created_at TEXT NOT NULL,
        confirmed_at TEXT,
        designated_only INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE cloud_codes (
        user_id TEXT PRIMARY KEY REFERENCES cloud_users(id),
        code_hash TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE cloud_messages (
        id INTEGER PRIMARY KEY,
        phone TEXT NOT NULL,
        text TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE TABLE cloud_keys (
        ca TEXT NOT NULL,
        serial TEXT NOT NULL,
        user_id TEXT NOT NULL REFERENCES cloud_users(id),
        salt BLOB NOT NULL,
        nonce BLOB NOT NULL,
        ciphertext BLOB NOT NULL,
        kdf TEXT NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        locked_at TEXT,
        renewal_notice_at TEXT,
        PRIMARY KEY (ca, serial)
    );
    CREATE INDEX cloud_keys_user ON cloud_keys (user_id);
    CREATE TABLE cloud_registrations (
        ca TEXT NOT NULL,
        serial TEXT NOT NULL,
        institution_id INTEGER NOT NULL REFERENCES institutions(id),
        at TEXT NOT NULL,
        PRIMARY KEY (ca, serial, institution_id)
    );
    CREATE TABLE cloud_devices (
        user_id TEXT NOT NULL REFERENCES cloud_users(id),
        device_id TEXT NOT NULL,
        added_at TEXT NOT NULL,
        PRIMARY KEY (user_id, device_id)
    );
    CREATE TABLE cloud_history (
        id INTEGER PRIMARY KEY,
        user_id TEXT NOT NULL,
        at TEXT NOT NULL,
        institution TEXT NOT NULL,
        device TEXT,
        purpose TEXT,
        serial TEXT,
        outcome TEXT NOT NULL
    );
    CREATE INDEX cloud_history_user ON cloud_history (user_id, id);
    """,
    # 4: the cloud under hostile parties: PIN attempts in flight (never charged), the
    # institution a user registered with and the one that caused a message, and the
    # vault secret's check value beside each sealed key.
    """
    CREATE TABLE cloud_pin_reservations (
        id INTEGER PRIMARY KEY,
        ca TEXT NOT NULL,
        serial TEXT NOT NULL,
        boot TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX cloud_pin_reservations_key ON cloud_pin_reservations (ca, serial);
    ALTER TABLE cloud_users ADD COLUMN institution_id INTEGER REFERENCES institutions(id);
    ALTER TABLE cloud_messages ADD COLUMN institution_id INTEGER REFERENCES institutions(id);
    ALTER TABLE cloud_keys ADD COLUMN secret_check TEXT;
    """,
    # 5: time never goes backwards per CA: the latest time recorded for each CA's events
    # and the thisUpdate of its latest CRL (reserved with its number), seeded from history.
    """
    ALTER TABLE cas ADD COLUMN last_event_at TEXT;
    ALTER TABLE cas ADD COLUMN last_crl_at TEXT;
    UPDATE cas SET
        last_event_at = (SELECT max(at) FROM audit WHERE audit.ca = cas.label),
        last_crl_at = (SELECT max(this_update) FROM crls WHERE crls.ca_id = cas.id);
    """,
    # 6: deliveries into NPKI folders (pki.delivery): each certificate delivered to disk is
    # recorded with its folder in the issuing transaction, so a crash between the commit
    # and the files' arrival is found again; the store's id names its temporary folders.
    """
    CREATE TABLE deliveries (
        ca_id INTEGER NOT NULL REFERENCES cas(id),
        serial TEXT NOT NULL,
        folder TEXT NOT NULL,
        staging TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        delivered_at TEXT,
        PRIMARY KEY (ca_id, serial)
    );
    CREATE INDEX deliveries_pending ON deliveries (ca_id) WHERE delivered_at IS NULL;
    INSERT OR IGNORE INTO meta (key, value) VALUES ('store_id', lower(hex(randomblob(8))));
    """,
    # 7: what the publisher writes and the web layer serves: the bytes of each CA's latest
    # full and delta CRL, and its delegated OCSP signing certificates (keys held by label).
    """
    CREATE TABLE published_crls (
        ca_id INTEGER NOT NULL REFERENCES cas(id),
        delta INTEGER NOT NULL CHECK (delta IN (0, 1)),
        number INTEGER NOT NULL,
        der BLOB NOT NULL,
        PRIMARY KEY (ca_id, delta)
    );
    CREATE TABLE ocsp_signers (
        id INTEGER PRIMARY KEY,
        ca_id INTEGER NOT NULL REFERENCES cas(id),
        serial TEXT NOT NULL,
        der BLOB NOT NULL,
        not_after TEXT NOT NULL,
        key_label TEXT NOT NULL,
        issued_at TEXT NOT NULL
    );
    CREATE INDEX ocsp_signers_ca ON ocsp_signers (ca_id, id);
    """,
    # 8: what renewed or reissued a certificate, found without scanning the CA's certificates
    # (the cloud asks at every signature, kpki cert show and list at every call).
    """
    CREATE INDEX certificates_replaces ON certificates (ca_id, replaces)
        WHERE replaces IS NOT NULL;
    """,
    # 9: the bank (pki.bank; SQL in pki.store.sqlite.bank): institutions get a 3-digit code
    # and settings; customers with their line and internet-banking enrolment, accounts,
    # security cards and their challenges, and what each customer spent of a day's limit.
    """
    ALTER TABLE institutions ADD COLUMN code TEXT;
    ALTER TABLE institutions ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
    CREATE UNIQUE INDEX institutions_code ON institutions (code) WHERE code IS NOT NULL;
    CREATE TABLE bank_customers (
        id TEXT PRIMARY KEY,
        institution_id INTEGER NOT NULL REFERENCES institutions(id),
        name TEXT NOT NULL,
        rrn TEXT NOT NULL,
        phone TEXT NOT NULL,
        carrier TEXT NOT NULL,
        mvno TEXT,
        line_type TEXT NOT NULL,
        created_at TEXT NOT NULL,
        signed_up_at TEXT,
        activated_at TEXT,
        UNIQUE (institution_id, rrn)
    );
    CREATE TABLE bank_accounts (
        institution_id INTEGER NOT NULL REFERENCES institutions(id),
        number TEXT NOT NULL,
        customer_id TEXT NOT NULL REFERENCES bank_customers(id),
        password_hash TEXT NOT NULL,
        balance INTEGER NOT NULL CHECK (balance >= 0),
        opened_at TEXT NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        locked_at TEXT,
        PRIMARY KEY (institution_id, number)
    );
    CREATE INDEX bank_accounts_customer ON bank_accounts (customer_id);
    CREATE TABLE bank_cards (
        id TEXT PRIMARY KEY,
        institution_id INTEGER NOT NULL REFERENCES institutions(id),
        customer_id TEXT NOT NULL REFERENCES bank_customers(id),
        serial TEXT NOT NULL,
        codes TEXT NOT NULL,
        issued_at TEXT NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        locked_at TEXT,
        retired_at TEXT,
        UNIQUE (institution_id, serial)
    );
    CREATE UNIQUE INDEX bank_cards_active ON bank_cards (customer_id) WHERE retired_at IS NULL;
    CREATE TABLE bank_card_challenges (
        id TEXT PRIMARY KEY,
        card_id TEXT NOT NULL REFERENCES bank_cards(id),
        first INTEGER NOT NULL,
        second INTEGER NOT NULL,
        issued_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        answered_at TEXT
    );
    CREATE TABLE bank_limit_use (
        id INTEGER PRIMARY KEY,
        customer_id TEXT NOT NULL REFERENCES bank_customers(id),
        day TEXT NOT NULL,
        amount INTEGER NOT NULL CHECK (amount > 0),
        at TEXT NOT NULL
    );
    CREATE INDEX bank_limit_use_day ON bank_limit_use (customer_id, day);
    """,
    # 10: the OTP centre (pki.bank.otp; SQL in pki.store.sqlite.otp): one row per token
    # (its sealed seed, learned drift, last accepted step, one failure count for every
    # institution, lock, loss, replacement) and where each is registered, for whom.
    """
    CREATE TABLE bank_otp_tokens (
        serial TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('hardware', 'mobile', 'digital')),
        person TEXT NOT NULL,
        issuer_id INTEGER NOT NULL REFERENCES institutions(id),
        sealed_seed BLOB NOT NULL,
        issued_at TEXT NOT NULL,
        device TEXT,
        activated_at TEXT,
        drift INTEGER NOT NULL DEFAULT 0,
        last_step INTEGER,
        failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
        locked_at TEXT,
        lost_at TEXT,
        disabled_at TEXT
    );
    CREATE INDEX bank_otp_tokens_person ON bank_otp_tokens (person);
    CREATE TABLE bank_otp_registrations (
        serial TEXT NOT NULL REFERENCES bank_otp_tokens(serial),
        institution_id INTEGER NOT NULL REFERENCES institutions(id),
        customer_id TEXT NOT NULL REFERENCES bank_customers(id),
        at TEXT NOT NULL,
        PRIMARY KEY (serial, institution_id)
    );
    CREATE INDEX bank_otp_registrations_customer
        ON bank_otp_registrations (institution_id, customer_id);
    """,
    # 11: phone verification (pki.bank.phone; SQL in pki.store.sqlite.phone): the carriers'
    # lines (test data), verifications with their current code (kept hashed), every code
    # sent (the per-phone daily bound), the carrier app of push protection, and how each
    # message reached its phone.
    """
    ALTER TABLE cloud_messages ADD COLUMN via TEXT NOT NULL DEFAULT 'sms';
    CREATE TABLE phone_lines (
        phone TEXT PRIMARY KEY,
        carrier TEXT NOT NULL,
        mvno TEXT,
        name TEXT NOT NULL,
        rrn TEXT NOT NULL,
        line_type TEXT NOT NULL,
        state TEXT NOT NULL,
        other_name INTEGER NOT NULL DEFAULT 0,
        ars_blocked INTEGER NOT NULL DEFAULT 0,
        added_at TEXT NOT NULL
    );
    CREATE TABLE phone_verifications (
        id TEXT PRIMARY KEY,
        institution_id INTEGER NOT NULL REFERENCES institutions(id),
        phone TEXT NOT NULL REFERENCES phone_lines(phone),
        method TEXT NOT NULL,
        via TEXT NOT NULL,
        name TEXT NOT NULL,
        rrn7 TEXT NOT NULL,
        code_hash TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        created_at TEXT NOT NULL,
        tries INTEGER NOT NULL DEFAULT 0,
        sends INTEGER NOT NULL DEFAULT 1,
        verified_at TEXT,
        ci TEXT,
        di TEXT
    );
    CREATE INDEX phone_verifications_phone ON phone_verifications (phone, created_at);
    CREATE TABLE phone_sends (
        id INTEGER PRIMARY KEY,
        phone TEXT NOT NULL,
        verification_id TEXT NOT NULL REFERENCES phone_verifications(id),
        at TEXT NOT NULL
    );
    CREATE INDEX phone_sends_phone ON phone_sends (phone, at);
    CREATE TABLE phone_apps (
        phone TEXT PRIMARY KEY REFERENCES phone_lines(phone),
        password_hash TEXT NOT NULL,
        enrolled_at TEXT NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        locked_at TEXT
    );
    """,
    # 12: sessions and transfers (pki.bank.sessions, pki.bank.transfers; SQL in
    # pki.store.sqlite.transfers): simple-authentication keys bound to a device, login
    # challenges answered once, sessions with their login method and expiry, and every
    # transfer asked for with its outcome and reason code; a signature digest authorises
    # one transfer at most.
    """
    CREATE TABLE bank_simple_auth_keys (
        id TEXT PRIMARY KEY,
        institution_id INTEGER NOT NULL REFERENCES institutions(id),
        customer_id TEXT NOT NULL REFERENCES bank_customers(id),
        device TEXT NOT NULL,
        public_key BLOB NOT NULL,
        registered_at TEXT NOT NULL,
        removed_at TEXT
    );
    CREATE INDEX bank_simple_auth_keys_customer ON bank_simple_auth_keys (customer_id);
    CREATE TABLE bank_login_challenges (
        id TEXT PRIMARY KEY,
        institution_id INTEGER NOT NULL REFERENCES institutions(id),
        customer_id TEXT NOT NULL REFERENCES bank_customers(id),
        nonce TEXT NOT NULL,
        issued_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        used_at TEXT
    );
    CREATE TABLE bank_sessions (
        id TEXT PRIMARY KEY,
        institution_id INTEGER NOT NULL REFERENCES institutions(id),
        customer_id TEXT NOT NULL REFERENCES bank_customers(id),
        method TEXT NOT NULL CHECK (method IN ('simple-auth', 'password', 'certificate')),
        key_id TEXT REFERENCES bank_simple_auth_keys(id),
        started_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        ended_at TEXT
    );
    CREATE INDEX bank_sessions_key ON bank_sessions (key_id) WHERE key_id IS NOT NULL;
    CREATE TABLE bank_transfers (
        id TEXT PRIMARY KEY,
        institution_id INTEGER NOT NULL REFERENCES institutions(id),
        customer_id TEXT NOT NULL REFERENCES bank_customers(id),
        from_account TEXT NOT NULL,
        to_account TEXT NOT NULL,
        amount INTEGER NOT NULL,
        medium TEXT,
        device TEXT,
        signature TEXT CHECK (signature IN ('certificate', 'simple-auth')),
        signature_digest TEXT,
        outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'refused')),
        reason TEXT,
        at TEXT NOT NULL,
        CHECK ((outcome = 'accepted') = (reason IS NULL))
    );
    CREATE INDEX bank_transfers_customer ON bank_transfers (customer_id, at);
    CREATE UNIQUE INDEX bank_transfers_signature ON bank_transfers (signature_digest)
        WHERE signature_digest IS NOT NULL;
    """,
    # 13: designated devices of the bank's customers (pki.bank.devices; SQL in
    # pki.store.sqlite.devices): the devices, each customer's designated-only mode and
    # extra-step service, and the phone verifications used once as an extra step.
    """
    CREATE TABLE bank_devices (
        customer_id TEXT NOT NULL REFERENCES bank_customers(id),
        device_id TEXT NOT NULL,
        added_at TEXT NOT NULL,
        PRIMARY KEY (customer_id, device_id)
    );
    CREATE TABLE bank_device_options (
        customer_id TEXT PRIMARY KEY REFERENCES bank_customers(id),
        designated_only INTEGER NOT NULL DEFAULT 0,
        step_up TEXT CHECK (step_up IN ('sms', 'ars'))
    );
    CREATE TABLE bank_step_ups (
        verification_id TEXT PRIMARY KEY REFERENCES phone_verifications(id),
        customer_id TEXT NOT NULL REFERENCES bank_customers(id),
        institution_id INTEGER NOT NULL REFERENCES institutions(id),
        operation TEXT NOT NULL,
        at TEXT NOT NULL
    );
    """,
    # 14: phone verification's requests that did not match the phone's line (or named a
    # number without one), by phone: the daily budget of identity mismatches
    # (pki.bank.phone). No foreign key to phone_lines: a number without a line counts too.
    """
    CREATE TABLE phone_mismatches (
        id INTEGER PRIMARY KEY,
        phone TEXT NOT NULL,
        institution_id INTEGER NOT NULL REFERENCES institutions(id),
        at TEXT NOT NULL
    );
    CREATE INDEX phone_mismatches_phone ON phone_mismatches (phone, at);
    """,
    # 15: issuance as banks run it (pki.ra; SQL in pki.store.sqlite.ra): step sessions and
    # every step asked for; private certificates registered as a bank's security medium;
    # simple authentication's apps (a person's private certificate at a provider) and the
    # relying parties' requests.
    """
    CREATE TABLE ra_sessions (
        id TEXT PRIMARY KEY,
        institution_id INTEGER NOT NULL REFERENCES institutions(id),
        flow TEXT NOT NULL,
        customer_id TEXT REFERENCES bank_customers(id),
        steps_done TEXT NOT NULL DEFAULT '',
        data TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL CHECK (state IN ('open', 'finished', 'failed')),
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        finished_at TEXT
    );
    CREATE TABLE ra_steps (
        id INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES ra_sessions(id),
        step TEXT NOT NULL,
        accepted INTEGER NOT NULL CHECK (accepted IN (0, 1)),
        reason TEXT,
        at TEXT NOT NULL,
        CHECK ((accepted = 1) = (reason IS NULL))
    );
    CREATE INDEX ra_steps_session ON ra_steps (session_id, id);
    CREATE TABLE bank_private_media (
        customer_id TEXT PRIMARY KEY REFERENCES bank_customers(id),
        institution_id INTEGER NOT NULL REFERENCES institutions(id),
        ca TEXT NOT NULL,
        serial TEXT NOT NULL,
        device TEXT NOT NULL,
        registered_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX bank_private_media_serial ON bank_private_media (ca, serial);
    CREATE TABLE simpleauth_users (
        provider INTEGER NOT NULL,
        person TEXT NOT NULL,
        name TEXT NOT NULL,
        phone TEXT NOT NULL,
        birth_date TEXT NOT NULL,
        ca TEXT NOT NULL,
        serial TEXT NOT NULL,
        device TEXT NOT NULL,
        registered_at TEXT NOT NULL,
        PRIMARY KEY (provider, person)
    );
    CREATE TABLE simpleauth_requests (
        id TEXT PRIMARY KEY,
        provider INTEGER NOT NULL,
        institution_id INTEGER NOT NULL REFERENCES institutions(id),
        person TEXT,
        nonce TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'declined', 'failed',
                                             'collected')),
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        answered_at TEXT,
        result BLOB,
        ci TEXT,
        data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX simpleauth_requests_person ON simpleauth_requests (provider, person, state);
    """,
    # 16: recovery copies of cloud keys (pki.cloud.vault: sealed under the vault secret
    # alone, kept for certificates issued where the institution resets PINs; SQL in
    # pki.store.sqlite.cloud).
    """
    CREATE TABLE cloud_recovery_keys (
        ca TEXT NOT NULL,
        serial TEXT NOT NULL,
        salt BLOB NOT NULL,
        nonce BLOB NOT NULL,
        ciphertext BLOB NOT NULL,
        kdf TEXT NOT NULL,
        secret_check TEXT,
        created_at TEXT NOT NULL,
        PRIMARY KEY (ca, serial),
        FOREIGN KEY (ca, serial) REFERENCES cloud_keys(ca, serial)
    );
    """,
    # 17: partitioned CRLs (pki.revocation.shards): a CA's number of CRL shards, the shard
    # each certificate was given (NULL: the CA's unsharded CRL, as before), the shard of
    # each CRL issued, and the bytes of each shard's latest CRL.
    """
    ALTER TABLE cas ADD COLUMN crl_shards INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE certificates ADD COLUMN crl_shard INTEGER;
    ALTER TABLE crls ADD COLUMN shard INTEGER;
    CREATE INDEX certificates_on_shard_crl ON certificates (ca_id, crl_shard, not_after)
        WHERE status != 'valid' AND crl_shard IS NOT NULL;
    CREATE TABLE published_shard_crls (
        ca_id INTEGER NOT NULL REFERENCES cas(id),
        shard INTEGER NOT NULL,
        number INTEGER NOT NULL,
        der BLOB NOT NULL,
        PRIMARY KEY (ca_id, shard)
    );
    """,
    # 18: certificates listed page by page in serial order (pki.store.sqlite.listing):
    # serials are hex text without leading zeros, so numeric order is by length, then text.
    """
    CREATE INDEX certificates_by_serial ON certificates (ca_id, length(serial), serial);
    """,
    # 19: each customer's KST day total of the limit ledger (pki.bank.limits; SQL in
    # pki.store.sqlite.bank), kept with every charge, so a transfer reads one row instead
    # of summing the day's charges; filled from the ledger as it stands.
    """
    CREATE TABLE bank_limit_days (
        customer_id TEXT NOT NULL REFERENCES bank_customers(id),
        day TEXT NOT NULL,
        used INTEGER NOT NULL CHECK (used > 0),
        PRIMARY KEY (customer_id, day)
    );
    INSERT INTO bank_limit_days (customer_id, day, used)
        SELECT customer_id, day, sum(amount) FROM bank_limit_use GROUP BY customer_id, day;
    """,
    # 20: the browser SDK (pki.cloud.sdk; SQL in pki.store.sqlite.sdk): an institution's
    # organisation code, public SDK key (hashed) and allowed page origins; the iframe's
    # sessions (token hashed) bound to institution, origin and device, with the cloud user
    # connected; the one-use shuffled PIN pads issued to a session.
    """
    CREATE TABLE sdk_institutions (
        institution_id INTEGER PRIMARY KEY REFERENCES institutions(id),
        org_code TEXT NOT NULL UNIQUE,
        key_hash TEXT NOT NULL UNIQUE,
        added_at TEXT NOT NULL
    );
    CREATE TABLE sdk_origins (
        institution_id INTEGER NOT NULL REFERENCES sdk_institutions(institution_id),
        origin TEXT NOT NULL,
        added_at TEXT NOT NULL,
        PRIMARY KEY (institution_id, origin)
    );
    CREATE TABLE sdk_sessions (
        id TEXT PRIMARY KEY,
        institution_id INTEGER NOT NULL REFERENCES sdk_institutions(institution_id),
        origin TEXT NOT NULL,
        device TEXT NOT NULL,
        user_id TEXT REFERENCES cloud_users(id),
        pending_user TEXT REFERENCES cloud_users(id),
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        ended_at TEXT
    );
    CREATE TABLE sdk_pads (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sdk_sessions(id),
        layout TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        used_at TEXT
    );
    CREATE INDEX sdk_pads_session ON sdk_pads (session_id);
    """,
    # 21: the per-charge rows of the limit ledger go: bank_limit_days holds each KST day's
    # total (19), and every charge is told by its audit row (a transfer's names the limit
    # charged), so a transfer writes one row and two pages fewer.
    """
    DROP TABLE bank_limit_use;
    """,
    # 22: expired SDK sessions and pads are purged as new ones are written, a bounded
    # batch a write (pki.cloud.sdk), ended sessions too: found by these indexes.
    """
    CREATE INDEX sdk_sessions_expiry ON sdk_sessions (expires_at);
    CREATE INDEX sdk_sessions_ended ON sdk_sessions (ended_at);
    CREATE INDEX sdk_pads_expiry ON sdk_pads (expires_at);
    """,
    # 23: a full CRL's lines read from one covering index, in the order of issuance (the
    # id), with no look-up of the certificate rows (each holds its certificate: a million
    # rows are two gigabytes) and no sort; it replaces both CRL indexes of 2 and 17.
    """
    CREATE INDEX certificates_crl_lines ON certificates (ca_id, crl_shard, id, not_after,
        serial, revoked_at, reason, invalidity_date, status) WHERE status != 'valid';
    DROP INDEX certificates_on_crl;
    DROP INDEX certificates_on_shard_crl;
    """,
)


SCHEMA_VERSION = len(_MIGRATIONS)


def migrate(conn: sqlite3.Connection, *, upto: int = SCHEMA_VERSION) -> None:
    """Apply the migrations a file lacks, up to ``upto``, in one transaction (the caller
    has checked the file is not newer and may be written)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for number in range(version, upto):
            for statement in split_sql(_MIGRATIONS[number]):
                conn.execute(statement)
        if upto > version:
            conn.execute(f"PRAGMA user_version = {upto}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def create_at_version(path: str, version: int) -> None:
    """Test hook: a new store file at schema ``version`` (0 to :data:`SCHEMA_VERSION`), as
    an older kpki made it, so tests can open it with this one and watch it migrate."""
    if not 0 <= version <= SCHEMA_VERSION:
        raise ValueError(f"schema versions run from 0 to {SCHEMA_VERSION}")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        migrate(conn, upto=version)
    finally:
        conn.close()


def split_sql(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        joined = "\n".join(current).strip()
        if joined.endswith(";") and sqlite3.complete_statement(joined):
            statements.append(joined)
            current = []
    if "".join(current).strip():
        statements.append("\n".join(current))
    return statements
