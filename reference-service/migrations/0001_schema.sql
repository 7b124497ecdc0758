-- Schema for the reference service: accounts, items, sessions, reference data and the job queue.
-- Each index names the query it serves, so that a reader can see why it exists.

CREATE TABLE accounts (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    plan          TEXT NOT NULL CHECK (plan IN ('anonymous', 'free', 'pro', 'enterprise')),
    api_key       TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
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
    id          BIGSERIAL PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts (id),
    title       TEXT NOT NULL,
    category_id INTEGER NOT NULL REFERENCES categories (id),
    importance  INTEGER NOT NULL CHECK (importance BETWEEN 0 AND 100),
    keywords    TEXT[] NOT NULL DEFAULT '{}',
    status      TEXT NOT NULL CHECK (status IN ('pending', 'active', 'archived')),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Keyset pagination: ORDER BY created_at DESC, id DESC with a (created_at, id) < (...) bound.
CREATE INDEX items_created_id_idx ON items (created_at DESC, id DESC);
-- Composite: one account's items, newest first (export job, account pages).
CREATE INDEX items_account_created_idx ON items (account_id, created_at DESC);
-- Covering: the account stats aggregate reads these columns without touching the heap.
CREATE INDEX items_account_status_cov_idx ON items (account_id, status) INCLUDE (importance, category_id);
-- Partial: the pending backlog is small and queried on its own (`status=pending`).
CREATE INDEX items_pending_idx ON items (created_at DESC, id DESC) WHERE status = 'pending';
-- GIN: keyword containment filter (`keyword=`).
CREATE INDEX items_keywords_gin_idx ON items USING GIN (keywords);
-- The stats aggregate compares an account with its categories.
CREATE INDEX items_category_importance_idx ON items (category_id, importance);

CREATE TABLE sessions (
    token      TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE jobs (
    id           UUID PRIMARY KEY,
    kind         TEXT NOT NULL,
    payload      JSONB NOT NULL,
    priority     SMALLINT NOT NULL CHECK (priority BETWEEN 0 AND 4),
    status       TEXT NOT NULL CHECK (status IN ('waiting', 'active', 'completed', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at       TIMESTAMPTZ NOT NULL,
    locked_by    TEXT,
    locked_at    TIMESTAMPTZ,
    progress     SMALLINT NOT NULL DEFAULT 0,
    last_error   TEXT,
    history      JSONB NOT NULL DEFAULT '[]',
    result       JSONB,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at  TIMESTAMPTZ
);

-- Partial: the claim query only ever looks at waiting jobs, by priority then due time.
CREATE INDEX jobs_waiting_idx ON jobs (priority, run_at) WHERE status = 'waiting';
-- Partial: stale-lock recovery and completed-job purging.
CREATE INDEX jobs_active_idx ON jobs (locked_at) WHERE status = 'active';
CREATE INDEX jobs_completed_idx ON jobs (finished_at) WHERE status = 'completed';

-- Completed jobs are deleted, so their count is kept here (one row per priority).
CREATE TABLE job_counters (
    priority  SMALLINT PRIMARY KEY,
    completed BIGINT NOT NULL DEFAULT 0
);
INSERT INTO job_counters (priority) VALUES (0), (1), (2), (3), (4);
