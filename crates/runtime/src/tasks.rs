//! Background tasks tied to the future that started them: [`AbortOnDrop`] aborts its task
//! when dropped (a connector run that ends or is stopped takes its helpers with it).

use tokio::task::JoinHandle;

/// Aborts the task when dropped, unless it was taken back with [`AbortOnDrop::take`].
pub struct AbortOnDrop<T>(Option<JoinHandle<T>>);

impl<T> AbortOnDrop<T> {
    /// Ties `handle`'s task to this guard.
    pub fn new(handle: JoinHandle<T>) -> Self {
        Self(Some(handle))
    }

    /// The task's handle, to await it while the guard still holds it.
    pub fn handle(&mut self) -> Option<&mut JoinHandle<T>> {
        self.0.as_mut()
    }

    /// Takes the handle back: the task is no longer aborted on drop.
    pub fn take(&mut self) -> Option<JoinHandle<T>> {
        self.0.take()
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        if let Some(handle) = &self.0 {
            handle.abort();
        }
    }
}
