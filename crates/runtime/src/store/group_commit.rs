//! The store thread: takes every job that is waiting, runs them in one transaction (each in a
//! savepoint of its own, so one failing job is rolled back alone), commits, and only then
//! answers them. Group commit: under load one commit carries hundreds of jobs; alone, a job
//! is its own transaction, as before.

use std::panic::{AssertUnwindSafe, catch_unwind};

use tokio::sync::{mpsc, oneshot};

use super::{Db, StoreError};

/// Most jobs in one transaction; more wait for the next one.
const MAX_JOBS_PER_COMMIT: usize = 1_024;

/// One unit of work for the store thread and the caller waiting for it.
pub(crate) struct Job {
    run: Box<dyn FnOnce(&mut Db) -> Ran + Send>,
}

/// Answers a job's caller; `Some(reason)` when the transaction did not commit.
type Answer = Box<dyn FnOnce(Option<&str>) + Send>;

/// A job that ran: whether to keep what it wrote, and how to answer its caller once the
/// transaction's fate is known (`Some(reason)` when the commit failed).
struct Ran {
    succeeded: bool,
    answer: Answer,
}

impl Job {
    /// Wraps `work`, answering on `answer`.
    pub(crate) fn new<R, F>(work: F, answer: oneshot::Sender<Result<R, StoreError>>) -> Self
    where
        R: Send + 'static,
        F: FnOnce(&mut Db) -> Result<R, StoreError> + Send + 'static,
    {
        Self {
            run: Box::new(move |db| {
                let result = work(db);
                Ran {
                    succeeded: result.is_ok(),
                    answer: Box::new(move |commit_failure| {
                        let result = match commit_failure {
                            Some(reason) => Err(StoreError::Commit(reason.to_owned())),
                            None => result,
                        };
                        let _ = answer.send(result);
                    }),
                }
            }),
        }
    }
}

/// The store thread's loop; returns when every [`super::Store`] handle is gone.
pub(super) fn run(mut db: Db, mut queue: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_JOBS_PER_COMMIT);
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_JOBS_PER_COMMIT {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit(&mut db, &mut batch);
    }
}

fn execute(db: &Db, sql: &str) -> rusqlite::Result<()> {
    db.conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// Runs `batch` in one transaction and answers each job after the commit.
fn commit(db: &mut Db, batch: &mut Vec<Job>) {
    if let Err(err) = execute(db, "BEGIN") {
        // Not run outside a transaction: each caller hears that the store is unavailable.
        tracing::error!(error = %err, jobs = batch.len(), "cannot begin a store transaction");
        batch.clear();
        return;
    }
    let mut ran = Vec::with_capacity(batch.len());
    for job in batch.drain(..) {
        if let Some(done) = run_one(db, job) {
            ran.push(done);
        }
    }
    let failure = execute(db, "COMMIT").err().map(|err| {
        tracing::error!(error = %err, jobs = ran.len(), "store transaction did not commit");
        let _ = execute(db, "ROLLBACK");
        db.forget_held();
        err.to_string()
    });
    for done in ran {
        (done.answer)(failure.as_deref());
    }
}

/// Runs one job inside its own savepoint; `None` when it panicked or no savepoint could be
/// opened (it is not run then, since its failure could not be undone alone): its caller then
/// hears that the store is unavailable.
fn run_one(db: &mut Db, job: Job) -> Option<Ran> {
    if let Err(err) = execute(db, "SAVEPOINT job") {
        tracing::error!(error = %err, "cannot open a store savepoint; job not run");
        return None;
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| (job.run)(db)));
    let keep = matches!(&outcome, Ok(ran) if ran.succeeded);
    let undone = if keep { Ok(()) } else { execute(db, "ROLLBACK TO job") };
    if let Err(err) = undone.and_then(|()| execute(db, "RELEASE job")) {
        tracing::error!(error = %err, "store savepoint not closed");
    }
    if !keep {
        db.forget_held();
    }
    match outcome {
        Ok(ran) => Some(ran),
        Err(_) => {
            tracing::error!("a store job panicked; its changes were rolled back");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Store;
    use super::*;

    #[test]
    fn a_failing_job_is_rolled_back_alone_and_answers_follow_the_commit() {
        let store = Store::open_in_memory().unwrap();
        let write = |value: &'static str| {
            move |db: &mut Db| {
                db.conn.execute("INSERT INTO cursors (platform, name, value) VALUES ('telegram', ?1, ?1)", [value])?;
                Ok(())
            }
        };
        store.call_blocking(write("a")).unwrap();
        let failed = store.call_blocking(move |db: &mut Db| {
            write("b")(db)?;
            Err::<(), _>(StoreError::Corrupt { table: "test", value: "refused".into() })
        });
        assert!(matches!(failed, Err(StoreError::Corrupt { .. })));
        let panicked = store.call_blocking(move |db: &mut Db| {
            write("c")(db)?;
            panic!("a job that panics");
            #[allow(unreachable_code)]
            Ok(())
        });
        assert!(matches!(panicked, Err(StoreError::Unavailable)));
        store.call_blocking(write("d")).unwrap();
        let names = store
            .call_blocking(|db: &mut Db| {
                let mut stmt = db.conn.prepare("SELECT name FROM cursors ORDER BY name")?;
                let names = stmt.query_map([], |row| row.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
                Ok(names)
            })
            .unwrap();
        assert_eq!(names, ["a", "d"], "the failed and the panicked job left nothing behind");
    }

    #[test]
    fn jobs_that_wait_together_run_one_after_another_and_all_commit() {
        let store = Store::open_in_memory().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let results = runtime.block_on(async {
            let calls = (0..200).map(|i| {
                let store = store.clone();
                async move {
                    store
                        .call(move |db: &mut Db| {
                            db.conn.execute(
                                "INSERT INTO cursors (platform, name, value) VALUES ('discord', ?1, ?1)",
                                [format!("{i:03}")],
                            )?;
                            let count: i64 = db.conn.query_row("SELECT COUNT(*) FROM cursors", [], |r| r.get(0))?;
                            Ok(count)
                        })
                        .await
                }
            });
            futures_util::future::join_all(calls).await
        });
        let mut counts: Vec<i64> = results.into_iter().map(Result::unwrap).collect();
        counts.sort_unstable();
        assert_eq!(counts, (1..=200).collect::<Vec<_>>(), "each job sees the writes of the ones before it");
        let stored: i64 = store
            .call_blocking(|db: &mut Db| Ok(db.conn.query_row("SELECT COUNT(*) FROM cursors", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(stored, 200);
    }

    #[test]
    fn history_held_in_memory_never_shows_a_rolled_back_entry() {
        use parachute_core::ids::{ChatKey, EventId, Platform};

        use crate::store::HistoryRole;

        let store = Store::open_in_memory().unwrap();
        let chat = ChatKey { platform: Platform::Telegram, chat: "42".into() };
        let turn = |event: &'static str| {
            let chat = chat.clone();
            move |db: &mut Db| {
                let (_, history) = db.begin_turn(&chat, &EventId::from(event), "ann", event, 10)?;
                Ok(history.into_iter().map(|entry| entry.text).collect::<Vec<_>>())
            }
        };
        assert!(store.call_blocking(turn("first")).unwrap().is_empty());
        let rolled_back = store.call_blocking({
            let chat = chat.clone();
            move |db: &mut Db| {
                db.append_history(&chat, HistoryRole::Assistant, "bot", "never stored")?;
                Err::<(), _>(StoreError::Corrupt { table: "test", value: "refused".into() })
            }
        });
        assert!(rolled_back.is_err());
        assert_eq!(store.call_blocking(turn("second")).unwrap(), ["first"], "the rolled-back answer is not shown");
        assert_eq!(store.call_blocking(turn("third")).unwrap(), ["first", "second"], "held again after the read");
    }
}
