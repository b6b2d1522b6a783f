//! The single writer thread: it owns the one read-write connection and commits every write that
//! is waiting when it wakes in one transaction (group commit). Replies go out only after the
//! commit. Writes run without savepoints (they cost a page copy per touched page); if one write
//! fails, the batch is rolled back and run again with a savepoint around each write, so a failing
//! write never undoes the others. Writes must therefore be re-runnable (`Fn`, store-only effects).

use crate::open_alerts::OpenAlerts;
use firebreak_core::store::{CommitStats, StoreError, StoreResult};
use rusqlite::Connection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use tokio::sync::oneshot;

/// The most writes one transaction takes; more wait for the next one.
const MAX_BATCH: usize = 2048;

/// What a write works with: the transaction's connection and the writer's open-alert index.
pub(crate) struct Tx<'a> {
    pub conn: &'a Connection,
    pub open: &'a mut OpenAlerts,
}

impl std::ops::Deref for Tx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

/// A queued write: run (possibly twice) inside the batch transaction, then answered.
trait Write: Send {
    /// Runs the write and keeps its result; false when it failed.
    fn run(&mut self, tx: &mut Tx<'_>) -> bool;
    fn committed(self: Box<Self>);
    fn aborted(self: Box<Self>, err: StoreError);
}

struct Pending<T, F> {
    f: F,
    /// The closure goes back with the result, so its captured data (a whole ingest request) is
    /// freed on the caller's thread, not the writer's.
    tx: oneshot::Sender<(StoreResult<T>, Option<F>)>,
    result: Option<StoreResult<T>>,
}

impl<T, F> Write for Pending<T, F>
where
    T: Send,
    F: Fn(&mut Tx<'_>) -> StoreResult<T> + Send,
{
    fn run(&mut self, tx: &mut Tx<'_>) -> bool {
        let result = (self.f)(tx);
        let ok = result.is_ok();
        tx.open.end_write(ok);
        self.result = Some(result);
        ok
    }
    fn committed(self: Box<Self>) {
        let Pending { f, tx, result } = *self;
        let result =
            result.unwrap_or_else(|| Err(StoreError::Internal("write was never run".into())));
        let _ = tx.send((result, Some(f)));
    }
    fn aborted(self: Box<Self>, err: StoreError) {
        let Pending { f, tx, .. } = *self;
        let _ = tx.send((Err(err), Some(f)));
    }
}

type Job = Box<dyn Write>;

#[derive(Clone)]
pub(crate) struct Writer {
    queue: SyncSender<Job>,
    running: Arc<AtomicBool>,
}

/// Clears the writer's `running` flag when its thread ends, however it ends.
struct RunningGuard(Arc<AtomicBool>);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl Writer {
    /// Starts the writer thread on `conn`. `capacity` bounds the queue: beyond it writes fail
    /// fast with `StoreError::Busy` (back-pressure) instead of piling up.
    pub(crate) fn start(
        conn: Connection,
        capacity: usize,
        stats: Arc<CommitStats>,
    ) -> StoreResult<Self> {
        let (queue, rx) = sync_channel::<Job>(capacity);
        let running = Arc::new(AtomicBool::new(true));
        let guard = RunningGuard(running.clone());
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                let _guard = guard;
                run(conn, rx, &stats)
            })
            .map_err(|e| StoreError::Internal(format!("cannot start writer thread: {e}")))?;
        Ok(Writer { queue, running })
    }

    /// False once the writer thread has ended (every write would fail).
    pub(crate) fn is_running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    /// Runs `f` inside the next batch transaction; resolves after that transaction committed.
    /// `f` may run twice (see the module doc); only its last run counts.
    pub(crate) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&mut Tx<'_>) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(Pending {
            f,
            tx,
            result: None,
        });
        match self.queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(StoreError::Busy),
            Err(TrySendError::Disconnected(_)) => {
                return Err(StoreError::Unavailable(
                    "the writer thread has stopped".into(),
                ))
            }
        }
        let (result, f) = rx
            .await
            .map_err(|_| StoreError::Unavailable("the writer thread has stopped".into()))?;
        drop(f);
        result
    }
}

fn run(conn: Connection, rx: Receiver<Job>, stats: &CommitStats) {
    let mut open = OpenAlerts::default();
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        if let Err(e) = open.ensure_loaded(&conn) {
            tracing::error!(error = %e, "cannot load open alerts");
            batch.clear(); // callers get `Unavailable`
            continue;
        }
        let mut tx = Tx {
            conn: &conn,
            open: &mut open,
        };
        let committed = commit_batch(&mut tx, &mut batch, stats);
        open.end_batch(committed);
    }
    tracing::debug!("sqlite writer stopped");
}

/// Runs a parameterless statement through the statement cache.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute([])
}

/// Runs and commits one batch; true when it committed.
fn commit_batch(tx: &mut Tx<'_>, batch: &mut Vec<Job>, stats: &CommitStats) -> bool {
    let conn = tx.conn;
    let size = batch.len();
    if let Err(e) = run_cached(conn, "BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "cannot begin a write transaction");
        // Dropping the writes drops their reply channels: each caller gets `Unavailable`.
        batch.clear();
        return false;
    }
    let all_ok = batch.iter_mut().all(|job| job.run(tx));
    if !all_ok {
        // Start over with each write isolated in a savepoint.
        tx.open.end_batch(false);
        let redo = run_cached(conn, "ROLLBACK").and_then(|_| run_cached(conn, "BEGIN IMMEDIATE"));
        if let Err(e) = redo.and_then(|_| run_isolated(tx, batch)) {
            tracing::error!(error = %e, "write batch failed");
            let _ = conn.execute_batch("ROLLBACK");
            let err = StoreError::Unavailable(format!("write transaction failed: {e}"));
            for job in batch.drain(..) {
                job.aborted(err.clone());
            }
            return false;
        }
    }
    match run_cached(conn, "COMMIT") {
        Ok(_) => {
            stats.observe(size as u64);
            for job in batch.drain(..) {
                job.committed();
            }
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "group commit failed");
            let _ = conn.execute_batch("ROLLBACK");
            let err = StoreError::Unavailable(format!("commit failed: {e}"));
            for job in batch.drain(..) {
                job.aborted(err.clone());
            }
            false
        }
    }
}

fn run_isolated(tx: &mut Tx<'_>, batch: &mut [Job]) -> rusqlite::Result<()> {
    let conn = tx.conn;
    for job in batch.iter_mut() {
        run_cached(conn, "SAVEPOINT w")?;
        if !job.run(tx) {
            run_cached(conn, "ROLLBACK TO w")?;
        }
        run_cached(conn, "RELEASE w")?;
    }
    Ok(())
}

/// Checkpoints the WAL into the database file from its own thread and connection, so the writer
/// never stops to do it (the writer's automatic checkpoint is off). Ends once `alive` can no
/// longer be upgraded (the store was dropped), checked once per interval.
pub(crate) fn start_checkpointer(
    path: &std::path::Path,
    alive: std::sync::Weak<()>,
) -> StoreResult<()> {
    let conn = Connection::open(path)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    let _ = conn.busy_timeout(std::time::Duration::from_secs(5));
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || checkpoint_loop(conn, alive))
        .map_err(|e| StoreError::Internal(format!("cannot start checkpoint thread: {e}")))?;
    Ok(())
}

/// How often the WAL is folded back into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

fn checkpoint_loop(conn: Connection, alive: std::sync::Weak<()>) {
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        if alive.upgrade().is_none() {
            break;
        }
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}
