//! The service's background tasks, watched together: each runs for the daemon's whole life,
//! so one that panics or returns leaves the daemon without a part it relies on (signals, mode
//! readings, expiry, ...). The supervisor reports the first such end, naming the task; the
//! service then stops with a non-zero status so systemd restarts it whole.

use std::collections::HashMap;
use std::future::Future;
use thiserror::Error;
use tokio::task::{AbortHandle, Id, JoinSet};

/// How a supervised task ended before the daemon asked it to.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TaskFailure {
    /// It panicked.
    #[error("the background task '{task}' panicked: {message}")]
    Panicked {
        /// The task's name.
        task: &'static str,
        /// The panic's message, when it was a string.
        message: String,
    },
    /// It returned although it should run as long as the daemon.
    #[error("the background task '{task}' ended unexpectedly")]
    Ended {
        /// The task's name.
        task: &'static str,
    },
    /// It was cancelled by someone other than the supervisor.
    #[error("the background task '{task}' was cancelled")]
    Cancelled {
        /// The task's name.
        task: &'static str,
    },
}

impl TaskFailure {
    /// The name of the task that ended.
    pub fn task(&self) -> &'static str {
        match self {
            TaskFailure::Panicked { task, .. }
            | TaskFailure::Ended { task }
            | TaskFailure::Cancelled { task } => task,
        }
    }
}

/// The daemon's long-lived tasks, by name.
#[derive(Debug, Default)]
pub struct Supervisor {
    tasks: JoinSet<()>,
    names: HashMap<Id, &'static str>,
    handles: HashMap<Id, AbortHandle>,
}

impl Supervisor {
    /// No tasks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `task` under supervision as `name`. It is expected to run until the daemon stops.
    pub fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = self.tasks.spawn(task);
        self.names.insert(handle.id(), name);
        self.handles.insert(handle.id(), handle);
    }

    /// Waits until a task ends, and says which and how. With no tasks, waits forever.
    pub async fn failure(&mut self) -> TaskFailure {
        loop {
            let Some(ended) = self.tasks.join_next_with_id().await else {
                return std::future::pending().await;
            };
            let id = match &ended {
                Ok((id, ())) => *id,
                Err(err) => err.id(),
            };
            self.handles.remove(&id);
            // A task the supervisor stopped itself is no failure.
            let Some(task) = self.names.remove(&id) else {
                continue;
            };
            return match ended {
                Ok(_) => TaskFailure::Ended { task },
                Err(err) if err.is_panic() => {
                    let payload = err.into_panic();
                    let message = payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "no message".to_string());
                    TaskFailure::Panicked { task, message }
                }
                Err(_) => TaskFailure::Cancelled { task },
            };
        }
    }

    /// Stops the task `name` (used for an ordered shutdown).
    pub fn abort(&mut self, name: &'static str) {
        // JoinSet hands out no handle by id, so the set is walked; it holds a handful.
        let ids: Vec<Id> = self
            .names
            .iter()
            .filter(|(_, task)| **task == name)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.names.remove(&id);
            if let Some(handle) = self.handles.remove(&id) {
                handle.abort();
            }
        }
    }

    /// Stops every task.
    pub fn shutdown(&mut self) {
        self.tasks.abort_all();
        self.names.clear();
        self.handles.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_that_returns_is_reported_by_name() {
        let mut supervisor = Supervisor::new();
        supervisor.spawn("forever", std::future::pending());
        supervisor.spawn("quitter", async {});
        assert_eq!(
            supervisor.failure().await,
            TaskFailure::Ended { task: "quitter" }
        );
    }

    #[tokio::test]
    async fn a_task_that_panics_is_reported_with_its_message() {
        let mut supervisor = Supervisor::new();
        supervisor.spawn("forever", std::future::pending());
        supervisor.spawn("faulty", async { panic!("the store vanished") });
        let failure = supervisor.failure().await;
        assert_eq!(
            failure,
            TaskFailure::Panicked {
                task: "faulty",
                message: "the store vanished".into()
            }
        );
        assert_eq!(failure.task(), "faulty");
    }

    #[tokio::test]
    async fn tasks_that_keep_running_report_nothing() {
        let mut supervisor = Supervisor::new();
        supervisor.spawn("forever", std::future::pending());
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(50), supervisor.failure()).await;
        assert!(waited.is_err(), "no task ended: {waited:?}");
    }

    #[tokio::test]
    async fn tasks_stopped_by_the_supervisor_are_not_failures() {
        let mut supervisor = Supervisor::new();
        supervisor.spawn("first", std::future::pending());
        supervisor.spawn("second", std::future::pending());
        supervisor.abort("first");
        supervisor.shutdown();
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(50), supervisor.failure()).await;
        assert!(waited.is_err(), "a stopped task is no failure: {waited:?}");
    }
}
