//! Property tests for V2 credit bookkeeping: a sender that obeys its [`SendWindow`] never
//! trips the receiver's [`RecvWindow`], the receiver never holds more than one window, grants
//! never exceed consumed bytes, and a drained stream always has credit to send again.

use std::collections::VecDeque;

use nowconnect_protocol::credit::{RecvWindow, SendWindow};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// The sender wants to send this many bytes (it sends what its credit allows).
    Send(usize),
    /// The oldest DATA in flight reaches the receiver.
    DeliverData,
    /// The receiver's socket takes this many bytes.
    Consume(usize),
    /// The oldest CREDIT in flight reaches the sender.
    DeliverCredit,
}

fn op(window: u32) -> impl Strategy<Value = Op> {
    let max = usize::try_from(window)
        .unwrap_or(usize::MAX)
        .saturating_mul(2)
        .max(1);
    prop_oneof![
        (1..=max).prop_map(Op::Send),
        Just(Op::DeliverData),
        (1..=max).prop_map(Op::Consume),
        Just(Op::DeliverCredit),
    ]
}

fn scenario() -> impl Strategy<Value = (u32, Vec<Op>)> {
    prop_oneof![1u32..64, 1024u32..1_000_000]
        .prop_flat_map(|w| (Just(w), prop::collection::vec(op(w), 0..200)))
}

proptest! {
    #[test]
    fn obedient_sender_stays_within_the_window((window, ops) in scenario()) {
        let mut send = SendWindow::new(window);
        let mut recv = RecvWindow::new(window);
        let (mut data, mut credit) = (VecDeque::new(), VecDeque::new());
        let (mut consumed, mut granted) = (0u64, 0u64);
        for op in ops {
            match op {
                Op::Send(want) => {
                    let n = send.take(want);
                    prop_assert!(n <= want);
                    if n > 0 {
                        data.push_back(n);
                    }
                }
                Op::DeliverData => {
                    if let Some(n) = data.pop_front() {
                        prop_assert_eq!(recv.on_data(n), Ok(()));
                    }
                }
                Op::Consume(want) => {
                    let n = u64::try_from(want).unwrap_or(u64::MAX).min(recv.buffered());
                    consumed += n;
                    if let Some(g) = recv.on_consumed(want) {
                        prop_assert!(g > 0);
                        granted += u64::from(g);
                        credit.push_back(g);
                    }
                }
                Op::DeliverCredit => {
                    if let Some(g) = credit.pop_front() {
                        prop_assert_eq!(send.grant(g), Ok(()));
                    }
                }
            }
            let in_flight: u64 = data.iter().map(|&n| n as u64).sum::<u64>() + credit.iter().map(|&g| u64::from(g)).sum::<u64>();
            prop_assert_eq!(recv.outstanding(), send.available() + in_flight);
            prop_assert!(recv.outstanding() + recv.buffered() <= u64::from(window));
            prop_assert!(granted <= consumed);
        }
        // Drain everything: the sender must end with credit (no deadlock).
        while let Some(n) = data.pop_front() {
            prop_assert_eq!(recv.on_data(n), Ok(()));
        }
        if let Some(g) = recv.on_consumed(usize::MAX) {
            credit.push_back(g);
        }
        while let Some(g) = credit.pop_front() {
            prop_assert_eq!(send.grant(g), Ok(()));
        }
        let threshold = (u64::from(window) / 4).max(1);
        prop_assert!(send.available() + threshold > u64::from(window));
    }

    #[test]
    fn sending_past_credit_is_caught(window in 0u32..100_000, extra in 1usize..1000) {
        let mut recv = RecvWindow::new(window);
        let over = usize::try_from(window).unwrap_or(usize::MAX) + extra;
        prop_assert!(recv.on_data(over).is_err());
        prop_assert_eq!(recv.outstanding(), u64::from(window));
    }
}
