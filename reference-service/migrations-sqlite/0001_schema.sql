-- Schema of the embedded (SQLite) store: the PostgreSQL schema translated, same tables and the
-- same indexes wherever SQLite has an equivalent. Times are INTEGER microseconds since the Unix
-- epoch (PostgreSQL's timestamptz resolution), so keyset comparisons are exact integer ones.
-- Keywords are a JSON array on the row plus one row per keyword in item_keywords, whose index
-- stands in for PostgreSQL's GIN index. The job queue of the embedded backend is in memory.

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    plan          TEXT NOT NULL CHECK (plan IN ('anonymous', 'free', 'pro', 'enterprise')),
    api_key       TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
);

CREATE TABLE categories (
    id   INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL
);

INSERT INTO categories (id, slug, name) VALUES
    (1, 'books', 'Books'), (2, 'music', 'Music'), (3, 'films', 'Films'), (4, 'games', 'Games'),
    (5, 'garden', 'Garden'), (6, 'kitchen', 'Kitchen'), (7, 'sports', 'Sports'), (8, 'travel', 'Travel'),
    (9, 'health', 'Health'), (10, 'tools', 'Tools'), (11, 'toys', 'Toys'), (12, 'office', 'Office');

CREATE TABLE items (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    title       TEXT NOT NULL,
    category_id INTEGER NOT NULL REFERENCES categories (id),
    importance  INTEGER NOT NULL CHECK (importance BETWEEN 0 AND 100),
    keywords    TEXT NOT NULL DEFAULT '[]',
    status      TEXT NOT NULL CHECK (status IN ('pending', 'active', 'archived')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- Keyset pagination: ORDER BY created_at DESC, id DESC with a (created_at, id) < (...) bound.
CREATE INDEX items_created_id_idx ON items (created_at DESC, id DESC);
-- Composite: one account's items, newest first (export job, account pages).
CREATE INDEX items_account_created_idx ON items (account_id, created_at DESC, id DESC);
-- Covering (SQLite has no INCLUDE: the extra columns join the key): the stats aggregate reads
-- these columns from the index alone.
CREATE INDEX items_account_status_cov_idx ON items (account_id, status, importance, category_id);
-- Partial: the pending backlog is small and queried on its own (`status=pending`).
CREATE INDEX items_pending_idx ON items (created_at DESC, id DESC) WHERE status = 'pending';
-- The stats aggregate compares an account with its categories (and takes their median).
CREATE INDEX items_category_importance_idx ON items (category_id, importance);

-- One row per (item, keyword): the keyword filter (`keyword=`) and the distinct-keyword count.
CREATE TABLE item_keywords (
    item_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    keyword TEXT NOT NULL,
    PRIMARY KEY (keyword, item_id)
) WITHOUT ROWID;
CREATE INDEX item_keywords_item_idx ON item_keywords (item_id);

CREATE TABLE sessions (
    token      TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    expires_at INTEGER NOT NULL
);
