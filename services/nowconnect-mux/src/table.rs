//! The session's live streams, by id (and by V1 cid).

use crate::codec::StreamKey;
use crate::stream::StreamShared;
use bytes::Bytes;
use nowconnect_protocol::StreamId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc;

/// What the session reader hands a stream's downstream pump.
#[derive(Debug)]
pub(crate) enum Delivery {
    Data(Bytes),
    /// The peer finished sending.
    Fin,
}

/// The sending end of a stream's inbound queue.
#[derive(Debug, Clone)]
pub(crate) enum InboundTx {
    /// V1: bounded by `queue_depth` frames; full means `queue_overflow`.
    Bounded(mpsc::Sender<Delivery>),
    /// V2: bounded in bytes by the receive window, checked before every push.
    Credited(crate::inbox::InboxTx),
}

/// Why a delivery could not be queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PushError {
    Overflow,
    Closed,
}

impl InboundTx {
    /// Queues `item`. A full V1 queue is waited on for at most `wait` — the V1 tunnel has no
    /// per-stream flow control, so this stalls the whole tunnel reader and pushes back on the
    /// peer through TCP, the only backpressure V1 has — then reported as overflow.
    pub(crate) async fn push(&self, item: Delivery, wait: Duration) -> Result<(), PushError> {
        match self {
            InboundTx::Bounded(tx) => match tx.try_send(item) {
                Ok(()) => Ok(()),
                Err(mpsc::error::TrySendError::Closed(_)) => Err(PushError::Closed),
                Err(mpsc::error::TrySendError::Full(item)) => {
                    match tokio::time::timeout(wait, tx.send(item)).await {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(_)) => Err(PushError::Closed),
                        Err(_) => Err(PushError::Overflow),
                    }
                }
            },
            InboundTx::Credited(tx) => tx.send(item).map_err(|_| PushError::Closed),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) shared: Arc<StreamShared>,
    pub(crate) tx: InboundTx,
}

#[derive(Debug, Default)]
struct Inner {
    by_id: HashMap<StreamId, Entry>,
    by_cid: HashMap<Arc<str>, StreamId>,
    next_id: u32,
}

/// Shared by the reader, the stream tasks (which remove themselves) and the handle.
#[derive(Debug, Default)]
pub(crate) struct StreamTable {
    inner: Mutex<Inner>,
}

impl StreamTable {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Allocates a fresh id (hub streams, and V1 streams on the agent).
    pub(crate) fn allocate(&self) -> StreamId {
        let mut inner = self.lock();
        loop {
            inner.next_id = inner.next_id.wrapping_add(1);
            let id = StreamId(inner.next_id);
            if id.0 != 0 && !inner.by_id.contains_key(&id) {
                return id;
            }
        }
    }

    /// Inserts unless the id or cid is taken or the table holds `max` streams.
    pub(crate) fn insert(
        &self,
        key: &StreamKey,
        entry: Entry,
        max: usize,
    ) -> Result<(), InsertError> {
        let mut inner = self.lock();
        if inner.by_id.len() >= max {
            return Err(InsertError::Full);
        }
        if inner.by_id.contains_key(&key.id) || inner.by_cid.contains_key(&key.cid) {
            return Err(InsertError::Duplicate);
        }
        inner.by_cid.insert(key.cid.clone(), key.id);
        inner.by_id.insert(key.id, entry);
        Ok(())
    }

    pub(crate) fn get(&self, id: StreamId) -> Option<Entry> {
        self.lock().by_id.get(&id).cloned()
    }

    pub(crate) fn id_of(&self, cid: &str) -> Option<StreamId> {
        self.lock().by_cid.get(cid).copied()
    }

    pub(crate) fn remove(&self, key: &StreamKey) {
        let mut inner = self.lock();
        inner.by_cid.remove(&key.cid);
        inner.by_id.remove(&key.id);
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// A snapshot of every live stream (sweeper, shutdown).
    pub(crate) fn all(&self) -> Vec<Arc<StreamShared>> {
        self.lock()
            .by_id
            .values()
            .map(|e| e.shared.clone())
            .collect()
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InsertError {
    Full,
    Duplicate,
}
