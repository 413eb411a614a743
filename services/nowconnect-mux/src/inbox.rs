//! A stream's V2 inbound queue: one producer side (the session reader, through the table) and
//! one consumer (the stream's downstream pump). Unbounded in frames — the receive window bounds
//! it in bytes before every push — and holding no memory while empty: tokio's mpsc allocates a
//! block of 32 slots per channel up front, about 1 KiB for every idle stream on each side.

use crate::table::Delivery;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    /// Wakes the consumer: an item arrived, or the last sender went away.
    wake: Notify,
    senders: AtomicUsize,
}

#[derive(Debug, Default)]
struct State {
    items: VecDeque<Delivery>,
    receiver_gone: bool,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A new empty queue.
pub(crate) fn inbox() -> (InboxTx, InboxRx) {
    let inner = Arc::new(Inner::default());
    inner.senders.store(1, Ordering::Release);
    (InboxTx(inner.clone()), InboxRx(inner))
}

/// The sending side; cloneable. When the last clone drops, the receiver sees the end.
#[derive(Debug)]
pub(crate) struct InboxTx(Arc<Inner>);

impl Clone for InboxTx {
    fn clone(&self) -> Self {
        self.0.senders.fetch_add(1, Ordering::AcqRel);
        InboxTx(self.0.clone())
    }
}

impl Drop for InboxTx {
    fn drop(&mut self) {
        if self.0.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.wake.notify_one();
        }
    }
}

impl InboxTx {
    /// Queues `item`; gives it back when the receiver is gone.
    pub(crate) fn send(&self, item: Delivery) -> Result<(), Delivery> {
        let mut state = self.0.lock();
        if state.receiver_gone {
            return Err(item);
        }
        state.items.push_back(item);
        drop(state);
        self.0.wake.notify_one();
        Ok(())
    }
}

/// The receiving side (one consumer).
#[derive(Debug)]
pub(crate) struct InboxRx(Arc<Inner>);

impl Drop for InboxRx {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.receiver_gone = true;
        state.items = VecDeque::new();
    }
}

impl InboxRx {
    /// The next item; `None` once every sender is gone and the queue is empty. Cancel-safe.
    pub(crate) async fn recv(&mut self) -> Option<Delivery> {
        loop {
            {
                let mut state = self.0.lock();
                if let Some(item) = state.items.pop_front() {
                    if state.items.is_empty() {
                        // Give the memory of a burst back: an idle stream holds none.
                        state.items = VecDeque::new();
                    }
                    return Some(item);
                }
                if self.0.senders.load(Ordering::Acquire) == 0 {
                    return None;
                }
            }
            self.0.wake.notified().await;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.lock().items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use bytes::Bytes;
    use std::time::Duration;

    fn data(s: &'static str) -> Delivery {
        Delivery::Data(Bytes::from_static(s.as_bytes()))
    }

    fn text(d: Option<Delivery>) -> String {
        match d {
            Some(Delivery::Data(b)) => String::from_utf8(b.to_vec()).unwrap(),
            Some(Delivery::Fin) => "FIN".into(),
            None => "END".into(),
        }
    }

    #[tokio::test]
    async fn items_arrive_in_order_and_the_end_after_the_last_sender() {
        let (tx, mut rx) = inbox();
        let tx2 = tx.clone();
        tx.send(data("a")).unwrap();
        tx2.send(data("b")).unwrap();
        assert!(!rx.is_empty());
        assert_eq!(text(rx.recv().await), "a");
        assert_eq!(text(rx.recv().await), "b");
        assert!(rx.is_empty());
        drop(tx);
        tx2.send(Delivery::Fin).unwrap();
        drop(tx2);
        assert_eq!(text(rx.recv().await), "FIN");
        assert_eq!(text(rx.recv().await), "END");
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_on_send_and_on_the_last_drop() {
        let (tx, mut rx) = inbox();
        let waiter = tokio::spawn(async move {
            let first = text(rx.recv().await);
            let second = text(rx.recv().await);
            (first, second)
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "nothing sent yet");
        tx.send(data("x")).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(tx);
        let got = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, ("x".to_owned(), "END".to_owned()));
    }

    #[tokio::test]
    async fn sending_to_a_dropped_receiver_fails() {
        let (tx, rx) = inbox();
        tx.send(data("kept")).unwrap();
        drop(rx);
        assert!(matches!(tx.send(data("y")), Err(Delivery::Data(_))));
    }
}
