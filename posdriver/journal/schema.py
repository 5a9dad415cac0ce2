"""The journal's schema, as numbered migrations from day one.

``PRAGMA user_version`` holds the number of migrations applied. A migration is appended,
never edited: a hotel's journal from an older posdriver is brought forward on open, and
a journal from a newer posdriver is refused rather than misread.
"""

from __future__ import annotations

_STATES = "'pending','sent','approved','declined','aborted','in_doubt','needs_review'"
_KINDS = "'sale','refund','reversal','pre_auth','booking'"

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    f"""
    CREATE TABLE operations (
        id              INTEGER PRIMARY KEY,
        kind            TEXT NOT NULL CHECK (kind IN ({_KINDS})),
        state           TEXT NOT NULL CHECK (state IN ({_STATES})),
        amount_minor    INTEGER CHECK (amount_minor IS NULL OR amount_minor > 0),
        currency        TEXT NOT NULL CHECK (length(currency) = 3),
        terminal        TEXT,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        parent_id       INTEGER REFERENCES operations(id),
        plan_id         INTEGER REFERENCES refund_plans(id),
        plan_part       INTEGER,
        ref_receipt_no  INTEGER,
        trace           INTEGER,
        receipt_no      INTEGER,
        approval_code   TEXT,
        terminal_id     TEXT,
        card_brand      TEXT,
        card_last4      TEXT CHECK (card_last4 IS NULL
                            OR (length(card_last4) = 4 AND card_last4 NOT GLOB '*[^0-9]*')),
        result_code     INTEGER,
        reason          TEXT,
        doubt_stage     TEXT,
        terminal_at     TEXT,
        idempotency_key TEXT UNIQUE,
        resolved_by     TEXT,
        note            TEXT
    );
    CREATE INDEX operations_created ON operations (created_at);
    CREATE INDEX operations_receipt_no ON operations (receipt_no) WHERE receipt_no IS NOT NULL;
    CREATE INDEX operations_unresolved ON operations (state)
        WHERE state IN ('pending', 'sent', 'in_doubt', 'needs_review');
    CREATE INDEX operations_parent ON operations (parent_id) WHERE parent_id IS NOT NULL;
    CREATE INDEX operations_last4 ON operations (card_last4) WHERE card_last4 IS NOT NULL;

    CREATE TABLE events (
        id            INTEGER PRIMARY KEY,
        operation_id  INTEGER NOT NULL REFERENCES operations(id),
        at            TEXT NOT NULL,
        event         TEXT NOT NULL,
        from_state    TEXT,
        to_state      TEXT,
        actor         TEXT,
        detail        TEXT
    );
    CREATE INDEX events_operation ON events (operation_id);

    CREATE TABLE receipts (
        id            INTEGER PRIMARY KEY,
        operation_id  INTEGER NOT NULL REFERENCES operations(id),
        copy          TEXT NOT NULL CHECK (copy IN ('customer', 'merchant')),
        source        TEXT NOT NULL CHECK (source IN ('terminal', 'built', 'repeat_receipt')),
        lines         TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        reprints      INTEGER NOT NULL DEFAULT 0,
        UNIQUE (operation_id, copy)
    );

    CREATE TABLE print_jobs (
        id            INTEGER PRIMARY KEY,
        receipt_id    INTEGER NOT NULL REFERENCES receipts(id),
        printer       TEXT,
        purpose       TEXT NOT NULL CHECK (purpose IN ('original', 'reprint')),
        reprint_no    INTEGER,
        state         TEXT NOT NULL
                          CHECK (state IN ('queued', 'printing', 'done', 'failed', 'cancelled')),
        continuation  INTEGER NOT NULL DEFAULT 0,
        attempts      INTEGER NOT NULL DEFAULT 0,
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        finished_at   TEXT,
        last_error    TEXT
    );
    CREATE INDEX print_jobs_open ON print_jobs (state) WHERE state IN ('queued', 'printing');
    CREATE INDEX print_jobs_receipt ON print_jobs (receipt_id);

    CREATE TABLE incidents (
        id            INTEGER PRIMARY KEY,
        at            TEXT NOT NULL,
        place         TEXT NOT NULL,
        device        TEXT,
        category      TEXT NOT NULL,
        fault         TEXT NOT NULL,
        action        TEXT NOT NULL,
        result        TEXT NOT NULL,
        notes         TEXT,
        operation_id  INTEGER REFERENCES operations(id),
        actor         TEXT
    );
    CREATE INDEX incidents_at ON incidents (at);

    CREATE TABLE refund_plans (
        id            INTEGER PRIMARY KEY,
        sale_id       INTEGER NOT NULL REFERENCES operations(id),
        currency      TEXT NOT NULL,
        parts         TEXT NOT NULL,
        state         TEXT NOT NULL CHECK (state IN ('open', 'done', 'cancelled')),
        created_at    TEXT NOT NULL,
        actor         TEXT
    );
    CREATE INDEX refund_plans_sale ON refund_plans (sale_id);
    """,
    # 2: transactions as their terminal's protocol addresses them (opaque text), beside
    # the receipt numbers they were known by before; those become references
    """
    ALTER TABLE operations ADD COLUMN reference TEXT;
    ALTER TABLE operations ADD COLUMN ref_reference TEXT;
    UPDATE operations SET reference = CAST(receipt_no AS TEXT) WHERE receipt_no IS NOT NULL;
    UPDATE operations SET ref_reference = CAST(ref_receipt_no AS TEXT)
        WHERE ref_receipt_no IS NOT NULL;
    CREATE INDEX operations_reference ON operations (terminal, reference)
        WHERE reference IS NOT NULL;
    """,
)

CURRENT_VERSION = len(MIGRATIONS)
