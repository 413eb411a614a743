//! Pure bookkeeping for V2 per-stream flow control.
//!
//! Each side starts every stream with the negotiated `window` of credit toward the peer. A
//! sender spends credit on DATA ([`SendWindow::take`]) and, when it has none, stops reading
//! its local socket for that stream only. A receiver tracks what the peer may still send
//! ([`RecvWindow::on_data`]) and hands credit back as its local socket consumes the bytes
//! ([`RecvWindow::on_consumed`]), in grants of at least a quarter window to keep CREDIT
//! frames rare.
//!
//! Receiver invariant: outstanding credit + bytes buffered + consumed-but-not-granted bytes
//! = `window`, so an obedient sender can never make the receiver hold more than `window`.

/// Upper bound on a sender's credit; an obedient peer never grants more than one window
/// (at most `u32::MAX`), so this only stops a hostile one from inflating it without bound.
pub const MAX_SEND_CREDIT: u64 = 4 * u32::MAX as u64;

/// A flow-control violation by the peer; the stream is reset with `protocol_error`.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CreditError {
    #[error("peer sent {got} bytes with only {allowed} bytes of credit")]
    Exceeded { got: u64, allowed: u64 },
    #[error("credit grant overflows the window")]
    Overflow,
}

/// What this side may still send on one stream.
#[derive(Debug, Clone)]
pub struct SendWindow {
    available: u64,
}

impl SendWindow {
    /// A stream's send side, starting with the negotiated window.
    pub fn new(initial: u32) -> Self {
        SendWindow {
            available: initial.into(),
        }
    }

    /// Bytes that may be sent now.
    pub fn available(&self) -> u64 {
        self.available
    }

    /// Takes up to `want` bytes of credit; returns how many were granted (0 if none).
    pub fn take(&mut self, want: usize) -> usize {
        let granted = u64::try_from(want).unwrap_or(u64::MAX).min(self.available);
        self.available -= granted;
        // `granted <= want`, so it fits in usize.
        usize::try_from(granted).unwrap_or(want)
    }

    /// Adds the peer's CREDIT increment; an increment that would push the credit above
    /// [`MAX_SEND_CREDIT`] is refused and leaves the window unchanged.
    pub fn grant(&mut self, n: u32) -> Result<(), CreditError> {
        let next = self.available + u64::from(n);
        if next > MAX_SEND_CREDIT {
            return Err(CreditError::Overflow);
        }
        self.available = next;
        Ok(())
    }
}

/// What the peer may still send us on one stream, and what to grant back.
#[derive(Debug, Clone)]
pub struct RecvWindow {
    window: u64,
    /// Credit the peer holds: bytes it may still send.
    outstanding: u64,
    /// Received, not yet delivered to the local socket.
    buffered: u64,
    /// Delivered, not yet granted back.
    pending: u64,
}

impl RecvWindow {
    /// A stream's receive side: the peer starts with `window` bytes of credit.
    pub fn new(window: u32) -> Self {
        let window = u64::from(window);
        RecvWindow {
            window,
            outstanding: window,
            buffered: 0,
            pending: 0,
        }
    }

    /// Credit the peer still holds.
    pub fn outstanding(&self) -> u64 {
        self.outstanding
    }

    /// Bytes received and not yet reported consumed.
    pub fn buffered(&self) -> u64 {
        self.buffered
    }

    /// Called when a DATA of n bytes arrives; Err if it exceeds the credit the peer had
    /// (the window is then unchanged).
    pub fn on_data(&mut self, n: usize) -> Result<(), CreditError> {
        let got = u64::try_from(n).unwrap_or(u64::MAX);
        if got > self.outstanding {
            return Err(CreditError::Exceeded {
                got,
                allowed: self.outstanding,
            });
        }
        self.outstanding -= got;
        self.buffered += got;
        Ok(())
    }

    /// Called when n bytes were delivered to the local socket; returns Some(grant) once the
    /// not-yet-granted consumed bytes reach window/4 (at least 1 byte), counting the grant as
    /// outstanding credit again; else None. Consumption beyond what was received is ignored,
    /// so grants never exceed consumed bytes.
    pub fn on_consumed(&mut self, n: usize) -> Option<u32> {
        let n = u64::try_from(n).unwrap_or(u64::MAX).min(self.buffered);
        self.buffered -= n;
        self.pending += n;
        let threshold = (self.window / 4).max(1);
        if self.pending < threshold {
            return None;
        }
        // pending <= window <= u32::MAX by the invariant.
        let grant = u32::try_from(self.pending).unwrap_or(u32::MAX);
        self.pending -= u64::from(grant);
        self.outstanding += u64::from(grant);
        Some(grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_window_takes_what_is_there() {
        let mut w = SendWindow::new(100);
        assert_eq!(w.take(60), 60);
        assert_eq!(w.take(60), 40);
        assert_eq!(w.take(1), 0);
        assert_eq!(w.available(), 0);
        w.grant(25).unwrap();
        assert_eq!(w.available(), 25);
        assert_eq!(w.take(usize::MAX), 25);
    }

    #[test]
    fn send_window_refuses_unbounded_grants() {
        let mut w = SendWindow::new(u32::MAX);
        for _ in 0..3 {
            w.grant(u32::MAX).unwrap();
        }
        assert_eq!(w.grant(1), Err(CreditError::Overflow));
        assert_eq!(w.available(), MAX_SEND_CREDIT);
    }

    #[test]
    fn recv_window_grants_at_a_quarter() {
        let mut w = RecvWindow::new(1000);
        w.on_data(1000).unwrap();
        assert_eq!(
            w.on_data(1),
            Err(CreditError::Exceeded { got: 1, allowed: 0 })
        );
        assert_eq!(w.on_consumed(249), None);
        assert_eq!(w.on_consumed(1), Some(250));
        assert_eq!(w.outstanding(), 250);
        assert_eq!(w.on_consumed(100), None);
        assert_eq!(w.on_consumed(650), Some(750));
        assert_eq!((w.outstanding(), w.buffered()), (1000, 0));
    }

    #[test]
    fn over_consumption_is_ignored() {
        let mut w = RecvWindow::new(8);
        w.on_data(2).unwrap();
        assert_eq!(w.on_consumed(100), Some(2));
        assert_eq!(w.outstanding(), 8);
        assert_eq!(w.on_consumed(100), None);
    }

    #[test]
    fn tiny_windows_still_grant() {
        let mut w = RecvWindow::new(1);
        w.on_data(1).unwrap();
        assert_eq!(w.on_consumed(1), Some(1));
        let mut z = RecvWindow::new(0);
        assert_eq!(
            z.on_data(1),
            Err(CreditError::Exceeded { got: 1, allowed: 0 })
        );
        assert_eq!(z.on_consumed(1), None);
    }

    #[test]
    fn error_messages() {
        let e = CreditError::Exceeded {
            got: 10,
            allowed: 4,
        };
        assert_eq!(
            e.to_string(),
            "peer sent 10 bytes with only 4 bytes of credit"
        );
    }
}
