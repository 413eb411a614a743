//! Property tests for HELLO negotiation: whatever the agent offers and the hub is configured
//! with, both ends reach the same outcome, also after the HELLO_ACK crossed the wire as JSON.

use nowconnect_protocol::hello::{self, Hello, HubV2, MAX_FRAME, MIN_FRAME, Negotiated};
use nowconnect_protocol::v1::{self, Message};
use proptest::prelude::*;

fn frame_size() -> impl Strategy<Value = u32> {
    prop_oneof![any::<u32>(), 0u32..2048, (MAX_FRAME - 10)..(MAX_FRAME + 10)]
}

fn hello_offer() -> impl Strategy<Value = Hello> {
    (
        prop::option::of(frame_size()),
        any::<bool>(),
        prop::collection::vec(
            prop_oneof![
                Just("v2".to_owned()),
                Just("V2".to_owned()),
                Just("x".to_owned())
            ],
            0..3,
        ),
    )
        .prop_map(|(max_frame, use_new, caps)| {
            if use_new {
                Hello::new("agent", vec!["ad".into()], max_frame)
            } else {
                Hello {
                    agent_id: "agent".into(),
                    ver: "2".into(),
                    caps,
                    max_frame,
                    ..Hello::default()
                }
            }
        })
}

fn hub() -> impl Strategy<Value = Option<HubV2>> {
    prop::option::of(
        (frame_size(), any::<u32>()).prop_map(|(max_frame, window)| HubV2 { max_frame, window }),
    )
}

proptest! {
    #[test]
    fn both_ends_agree(hello in hello_offer(), hub in hub()) {
        let (ack, at_hub) = hello::hub_answer(&hello, hub);
        prop_assert_eq!(hello::agent_outcome(&ack, hello.max_frame), at_hub);
        let Ok(Message::HelloAck(wire_ack)) = v1::decode(&v1::encode(&Message::HelloAck(ack))) else {
            return Err(TestCaseError::fail("HELLO_ACK did not survive the wire"));
        };
        prop_assert_eq!(hello::agent_outcome(&wire_ack, hello.max_frame), at_hub);
        if let Negotiated::V2 { max_frame, window } = at_hub {
            prop_assert!(hello.offers_v2() && hub.is_some());
            prop_assert!((MIN_FRAME..=MAX_FRAME).contains(&max_frame));
            prop_assert!(hello.max_frame.is_none_or(|offer| max_frame <= offer));
            prop_assert!(window >= max_frame);
        }
    }
}
