//! Async wrapper around the protocol crate's pure credit windows.

use nowconnect_protocol::credit::{CreditError, SendWindow};
use std::sync::Mutex;
use tokio::sync::Notify;

/// What this side may still send on one V2 stream. The stream's upstream pump is the only
/// consumer; the session reader grants. Cancel-safe: [`SendCredit::wait`] holds no state.
#[derive(Debug)]
pub(crate) struct SendCredit {
    window: Mutex<SendWindow>,
    granted: Notify,
}

impl SendCredit {
    pub(crate) fn new(initial: u32) -> Self {
        Self {
            window: Mutex::new(SendWindow::new(initial)),
            granted: Notify::new(),
        }
    }

    /// Waits until some credit is available and returns how much (capped at `max`).
    pub(crate) async fn wait(&self, max: usize) -> usize {
        loop {
            if let Some(n) = self.available(max) {
                return n;
            }
            self.granted.notified().await;
        }
    }

    /// The credit available now (capped at `max`), or `None` when there is none.
    pub(crate) fn available(&self, max: usize) -> Option<usize> {
        let avail = self.lock().available();
        (avail > 0).then(|| usize::try_from(avail).unwrap_or(usize::MAX).min(max))
    }

    /// Spends `n` bytes that [`SendCredit::wait`] reported available.
    pub(crate) fn spend(&self, n: usize) {
        let _ = self.lock().take(n);
    }

    pub(crate) fn grant(&self, n: u32) -> Result<(), CreditError> {
        self.lock().grant(n)?;
        self.granted.notify_one();
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SendWindow> {
        self.window.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn wait_returns_available_credit_capped_and_blocks_until_granted() {
        let credit = Arc::new(SendCredit::new(10));
        assert_eq!(credit.wait(4).await, 4);
        credit.spend(10);
        let waiter = tokio::spawn({
            let credit = credit.clone();
            async move { credit.wait(100).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "no credit: the pump waits");
        credit.grant(7).unwrap();
        assert_eq!(waiter.await.unwrap(), 7);
    }
}
