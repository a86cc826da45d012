//! Threads that run handler scripts while their run's thread serves the host calls.
//!
//! Starting a thread costs more than most handlers' work, so finished threads wait for the
//! next script (for a while) instead of exiting. Every job gets a thread at once: a job is
//! handed to an idle thread only when one was reserved for it, otherwise a new thread is
//! started — a handler waiting on a nested run whose handler waits for a free thread would
//! deadlock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub(crate) use crate::limits::STACK_BYTES;

/// How long an idle script thread waits for work before it exits.
const IDLE_FOR: Duration = Duration::from_secs(30);

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    jobs: Mutex<Sender<Job>>,
    queue: Arc<Mutex<Receiver<Job>>>,
    /// Threads waiting for a job and not yet reserved by a sender.
    idle: Arc<AtomicUsize>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let (jobs, queue) = channel();
        Pool {
            jobs: Mutex::new(jobs),
            queue: Arc::new(Mutex::new(queue)),
            idle: Arc::new(AtomicUsize::new(0)),
        }
    })
}

/// Run `job` on a script thread: an idle one if one can be reserved, else a new one.
pub(crate) fn spawn(job: Job) -> std::io::Result<()> {
    let pool = pool();
    let reserved = pool
        .idle
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if reserved {
        let sender = pool.jobs.lock().unwrap_or_else(|p| p.into_inner());
        if sender.send(job).is_ok() {
            return Ok(());
        }
        unreachable!("the pool keeps its receiver for the life of the process");
    }
    let queue = pool.queue.clone();
    let idle = pool.idle.clone();
    std::thread::Builder::new()
        .name("coworker script".into())
        .stack_size(STACK_BYTES)
        .spawn(move || {
            let mut job = Some(job);
            while let Some(next) = job.take() {
                // A panicking script must not take the thread's later jobs with it; its own
                // run sees its channel close and fails.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(next));
                idle.fetch_add(1, Ordering::SeqCst);
                job = wait(&queue, &idle);
            }
        })
        .map(|_| ())
}

/// How long a thread that just finished a script looks for the next one before it blocks:
/// handlers often come back to back, and waking a blocked thread costs tens of
/// microseconds on a small virtual machine (more than many handlers' work).
const SPIN_FOR: Duration = Duration::from_micros(50);

/// Wait for the next job; give up after [`IDLE_FOR`] unless a sender reserved this thread.
fn wait(queue: &Mutex<Receiver<Job>>, idle: &AtomicUsize) -> Option<Job> {
    let spin_until = std::time::Instant::now() + SPIN_FOR;
    // The clock is read every 64 polls: reading it on every poll cost more than the poll.
    for poll in 0u32.. {
        if poll % 64 == 63 && std::time::Instant::now() >= spin_until {
            break;
        }
        if let Ok(job) = queue.lock().unwrap_or_else(|p| p.into_inner()).try_recv() {
            return Some(job);
        }
        std::hint::spin_loop();
    }
    loop {
        let received = queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .recv_timeout(IDLE_FOR);
        match received {
            Ok(job) => return Some(job),
            Err(RecvTimeoutError::Timeout) => {
                // Leave only if nobody counts on this thread; a reservation means a job is
                // on its way.
                if idle
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    return None;
                }
            }
            Err(RecvTimeoutError::Disconnected) => return None,
        }
    }
}
