//! The schema, as an ordered list of migrations. `PRAGMA user_version` records how many were
//! applied; a database written by a newer stepflare is refused rather than misread.
//!
//! 1. Workflows, versions, instances, steps, attempts, events, timers.
//! 2. `cron_firings`: per cron expression of a workflow or a Worker, the time through which its
//!    firings are done, and the firing whose `scheduled` handler is running.
//! 3. `queue_messages`.
//! 4. `timers.armed`: whether the timer's instance is `waiting`, the only status a timer wakes.
//!    Triggers keep it in step with `instances.status` inside the statement that changes either
//!    side, and the partial index `timers_armed` on `(workflow_name, due_at)` holds armed timers
//!    only, so the timer task finds a workflow's next timer with one seek and reads only due rows,
//!    however many instances sleep.
//! 5. `journal`: what happened to each instance, as production's `subscribe` events. One row per
//!    commit holds that commit's events (a JSON array) numbered `first_id` to `last_id`, so a step
//!    adds one row however many events it makes.
//! 6. `journal` appended at its end: the rows keep their columns, but are stored in the order
//!    they were written (a rowid table) and found per instance by the index `journal_by_instance`.
//!    A commit of many instances' steps then adds its journal rows to one page, not one page per
//!    instance: clustered by instance, the journal doubled the pages, and so the cost, of every
//!    commit.
//! 7. Retention: `workflows.success_retention_ms`/`error_retention_ms` hold a workflow's default
//!    set over REST; `instances` get the retention they were created with and `expires_on`, set
//!    when they end, with the partial index `instances_by_expiry` over the instances that will
//!    go, so that finding the next one to go is one seek.
//! 8. `kv`: the keys of Workers KV namespaces, by namespace and key.
//! 9. `r2_objects`: the records of R2 buckets' objects (their bytes are files).
//! 10. `instances.rollback`: the instance's rollback (`model::Rollback` as JSON): its trigger,
//!     the handlers it runs in order, and its outcome once it ended.
//! 11. `durable_alarms`: each Durable Object's alarm (also kept in the object's own file), so
//!     that the alarms due are found at start without opening every object's file: the time
//!     the object set, when it fires next (later than that while its handler is retried), and
//!     how many retries it had.
//! 12. `steps` clustered by `(workflow_name, instance_id, seq)`, the order an instance's steps
//!     began in, instead of by step key (kind, name, count), and each step's config kept once
//!     per distinct text in `step_configs`, the row holding its id. The table is clustered by
//!     its key, and appending to a page of such a table (SQLite's quick balance is for rowid
//!     tables only) splits it into three half-full ones every few rows when rows are long: a
//!     step wrote two pages of it on average, and four every third step. Short rows in key
//!     order write one. The engine keeps a step's `seq` for as long as the step is stored, so it
//!     identifies the row as the key did; the rows are numbered again per instance, in their
//!     old order, should a state file hold two with the same `seq`.
//!
//! A migration that was released is never edited: state files out there were made by it.

use rusqlite::Connection;

use super::StoreError;

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE workflows (
    name        TEXT PRIMARY KEY,
    id          TEXT NOT NULL,
    class_name  TEXT NOT NULL,
    script_name TEXT NOT NULL,
    created_on  INTEGER NOT NULL,
    modified_on INTEGER NOT NULL
);
CREATE TABLE versions (
    id            TEXT PRIMARY KEY,
    workflow_name TEXT NOT NULL,
    source_hash   TEXT NOT NULL,
    class_name    TEXT NOT NULL,
    created_on    INTEGER NOT NULL
);
CREATE INDEX versions_by_workflow ON versions (workflow_name, created_on);
CREATE TABLE instances (
    workflow_name  TEXT NOT NULL,
    id             TEXT NOT NULL,
    version_id     TEXT NOT NULL,
    status         TEXT NOT NULL,
    params         TEXT NOT NULL,
    trigger_source TEXT NOT NULL,
    schedule       TEXT,
    created_on     INTEGER NOT NULL,
    modified_on    INTEGER NOT NULL,
    started_on     INTEGER,
    ended_on       INTEGER,
    output         TEXT,
    error_name     TEXT,
    error_message  TEXT,
    terminated_by  TEXT,
    PRIMARY KEY (workflow_name, id)
);
CREATE INDEX instances_by_status ON instances (status, created_on);
CREATE INDEX instances_by_created ON instances (workflow_name, created_on);
CREATE TABLE steps (
    workflow_name TEXT NOT NULL,
    instance_id   TEXT NOT NULL,
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    count         INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    state         TEXT NOT NULL,
    started_on    INTEGER NOT NULL,
    ended_on      INTEGER,
    output        TEXT,
    error_name    TEXT,
    error_message TEXT,
    config        TEXT,
    attempts_made INTEGER NOT NULL DEFAULT 0,
    wake_at       INTEGER,
    event_type    TEXT,
    PRIMARY KEY (workflow_name, instance_id, kind, name, count)
) WITHOUT ROWID;
CREATE TABLE attempts (
    workflow_name TEXT NOT NULL,
    instance_id   TEXT NOT NULL,
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    count         INTEGER NOT NULL,
    attempt       INTEGER NOT NULL,
    started_on    INTEGER NOT NULL,
    ended_on      INTEGER,
    success       INTEGER,
    error_name    TEXT,
    error_message TEXT,
    PRIMARY KEY (workflow_name, instance_id, kind, name, count, attempt)
) WITHOUT ROWID;
CREATE TABLE events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow_name TEXT NOT NULL,
    instance_id   TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    payload       TEXT NOT NULL,
    received_on   INTEGER NOT NULL,
    consumed_by   TEXT
);
CREATE INDEX events_pending ON events (workflow_name, instance_id, event_type, consumed_by);
CREATE TABLE timers (
    workflow_name TEXT NOT NULL,
    instance_id   TEXT NOT NULL,
    step          TEXT NOT NULL,
    due_at        INTEGER NOT NULL,
    PRIMARY KEY (workflow_name, instance_id, step)
) WITHOUT ROWID;
CREATE INDEX timers_by_due ON timers (due_at);
"#,
    r#"
CREATE TABLE cron_firings (
    owner_kind   TEXT NOT NULL,
    owner        TEXT NOT NULL,
    cron         TEXT NOT NULL,
    done_through INTEGER NOT NULL,
    running      INTEGER,
    PRIMARY KEY (owner_kind, owner, cron)
) WITHOUT ROWID;
"#,
    r#"
CREATE TABLE queue_messages (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    queue        TEXT NOT NULL,
    body         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    visible_at   INTEGER NOT NULL,
    leased       INTEGER NOT NULL,
    created_on   INTEGER NOT NULL
);
CREATE INDEX queue_messages_ready ON queue_messages (queue, leased, visible_at);
"#,
    r#"
ALTER TABLE timers ADD COLUMN armed INTEGER NOT NULL DEFAULT 0;
UPDATE timers SET armed = 1 WHERE EXISTS (
    SELECT 1 FROM instances i
    WHERE i.workflow_name = timers.workflow_name AND i.id = timers.instance_id AND i.status = 'waiting');
DROP INDEX timers_by_due;
CREATE INDEX timers_armed ON timers (workflow_name, due_at) WHERE armed = 1;
CREATE TRIGGER timers_armed_on_insert AFTER INSERT ON timers
WHEN EXISTS (
    SELECT 1 FROM instances
    WHERE workflow_name = NEW.workflow_name AND id = NEW.instance_id AND status = 'waiting')
BEGIN
    UPDATE timers SET armed = 1
    WHERE workflow_name = NEW.workflow_name AND instance_id = NEW.instance_id AND step = NEW.step;
END;
CREATE TRIGGER timers_follow_status AFTER UPDATE OF status ON instances
WHEN (OLD.status = 'waiting') IS NOT (NEW.status = 'waiting')
BEGIN
    UPDATE timers SET armed = (NEW.status = 'waiting')
    WHERE workflow_name = NEW.workflow_name AND instance_id = NEW.id;
END;
"#,
    r#"
CREATE TABLE journal (
    workflow_name TEXT NOT NULL,
    instance_id   TEXT NOT NULL,
    first_id      INTEGER NOT NULL,
    last_id       INTEGER NOT NULL,
    events        TEXT NOT NULL,
    PRIMARY KEY (workflow_name, instance_id, first_id)
) WITHOUT ROWID;
"#,
    r#"
CREATE TABLE journal_log (
    seq           INTEGER PRIMARY KEY,
    workflow_name TEXT NOT NULL,
    instance_id   TEXT NOT NULL,
    first_id      INTEGER NOT NULL,
    last_id       INTEGER NOT NULL,
    events        TEXT NOT NULL
);
INSERT INTO journal_log (workflow_name, instance_id, first_id, last_id, events)
    SELECT workflow_name, instance_id, first_id, last_id, events FROM journal ORDER BY workflow_name, instance_id, first_id;
DROP TABLE journal;
ALTER TABLE journal_log RENAME TO journal;
CREATE UNIQUE INDEX journal_by_instance ON journal (workflow_name, instance_id, first_id, last_id);
"#,
    r#"
ALTER TABLE workflows ADD COLUMN success_retention_ms INTEGER;
ALTER TABLE workflows ADD COLUMN error_retention_ms INTEGER;
ALTER TABLE instances ADD COLUMN success_retention_ms INTEGER;
ALTER TABLE instances ADD COLUMN error_retention_ms INTEGER;
ALTER TABLE instances ADD COLUMN expires_on INTEGER;
CREATE INDEX instances_by_expiry ON instances (expires_on) WHERE expires_on IS NOT NULL;
"#,
    r#"
CREATE TABLE kv (
    namespace  TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      BLOB NOT NULL,
    metadata   TEXT,
    expiration INTEGER,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
"#,
    r#"
CREATE TABLE r2_objects (
    bucket          TEXT NOT NULL,
    key             TEXT NOT NULL,
    version         TEXT NOT NULL,
    size            INTEGER NOT NULL,
    etag            TEXT NOT NULL,
    uploaded        INTEGER NOT NULL,
    http_metadata   TEXT NOT NULL,
    custom_metadata TEXT NOT NULL,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
"#,
    r#"
ALTER TABLE instances ADD COLUMN rollback TEXT;
"#,
    r#"
CREATE TABLE durable_alarms (
    script       TEXT NOT NULL,
    namespace    TEXT NOT NULL,
    object_id    TEXT NOT NULL,
    scheduled_at INTEGER NOT NULL,
    due_at       INTEGER NOT NULL,
    retries      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (script, namespace, object_id)
) WITHOUT ROWID;
"#,
    r#"
CREATE TABLE step_configs (
    id     INTEGER PRIMARY KEY,
    config TEXT NOT NULL UNIQUE
);
INSERT INTO step_configs (config) SELECT DISTINCT config FROM steps WHERE config IS NOT NULL;
CREATE TABLE steps_by_seq (
    workflow_name TEXT NOT NULL,
    instance_id   TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    count         INTEGER NOT NULL,
    state         TEXT NOT NULL,
    started_on    INTEGER NOT NULL,
    ended_on      INTEGER,
    output        TEXT,
    error_name    TEXT,
    error_message TEXT,
    config_id     INTEGER,
    attempts_made INTEGER NOT NULL DEFAULT 0,
    wake_at       INTEGER,
    event_type    TEXT,
    PRIMARY KEY (workflow_name, instance_id, seq)
) WITHOUT ROWID;
INSERT INTO steps_by_seq
    SELECT workflow_name, instance_id,
           row_number() OVER (PARTITION BY workflow_name, instance_id ORDER BY seq, kind, name, count) - 1,
           kind, name, count, state, started_on, ended_on, output, error_name, error_message,
           (SELECT id FROM step_configs c WHERE c.config = steps.config),
           attempts_made, wake_at, event_type
    FROM steps;
DROP TABLE steps;
ALTER TABLE steps_by_seq RENAME TO steps;
"#,
];

pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    migrate_to(conn, MIGRATIONS.len())
}

/// Applies the migrations up to the `target`-th; tests use it to make a state file as an older
/// stepflare left it.
pub(super) fn migrate_to(conn: &mut Connection, target: usize) -> Result<(), StoreError> {
    let applied: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let applied = usize::try_from(applied).unwrap_or(usize::MAX);
    if applied > MIGRATIONS.len() {
        return Err(StoreError::TooNew { found: applied, known: MIGRATIONS.len() });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().take(target).skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}
