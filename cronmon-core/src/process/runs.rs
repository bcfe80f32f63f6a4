//! The runs in progress in this process: the signal handler ends them, `current_run` finds the
//! innermost one marked current. Short critical sections only.

use std::any::Any;
use std::sync::{Arc, Mutex};

/// What the process needs of a run in progress. Implemented by the run guard's shared state,
/// so this module does not depend on it.
pub(crate) trait ActiveRun: Any + Send + Sync {
    /// Whether `current_run` may return this run.
    fn is_current(&self) -> bool;
    /// Ends the run as stopped by `signal` (its name for the message, and its number).
    fn interrupt(&self, signal: &str, number: i32);
}

static ACTIVE: Mutex<Vec<Arc<dyn ActiveRun>>> = Mutex::new(Vec::new());

pub(crate) fn register(run: Arc<dyn ActiveRun>) {
    ACTIVE.lock().unwrap_or_else(|p| p.into_inner()).push(run);
}

/// Forgets `run` (found by address), if it is registered.
pub(crate) fn unregister(run: &dyn ActiveRun) {
    let mut active = ACTIVE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(i) = active
        .iter()
        .rposition(|r| std::ptr::addr_eq(Arc::as_ptr(r), run as *const dyn ActiveRun))
    {
        // `remove`, not `swap_remove`: `innermost_current` relies on registration order.
        active.remove(i);
    }
}

/// Every run in progress, for the signal handler.
pub(crate) fn all() -> Vec<Arc<dyn ActiveRun>> {
    ACTIVE.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The most recently registered run still in progress that is marked current.
pub(crate) fn innermost_current() -> Option<Arc<dyn ActiveRun>> {
    ACTIVE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .rev()
        .find(|r| r.is_current())
        .cloned()
}
