//! Property tests for the V1 JSON codec: encode → decode is the identity, and decoding any
//! text never panics (and whatever decodes survives a second round trip).

use bytes::Bytes;
use nowconnect_protocol::hello::{Hello, HelloAck};
use nowconnect_protocol::v1::{self, Message};
use nowconnect_protocol::{Direction, ResetReason};
use proptest::prelude::*;

/// Any text of `chars` characters that fits in `max_bytes` bytes.
fn text(chars: std::ops::Range<usize>, max_bytes: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), chars)
        .prop_map(String::from_iter)
        .prop_filter("too long", move |s| s.len() <= max_bytes)
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::C2a), Just(Direction::A2c)]
}

fn reason() -> impl Strategy<Value = ResetReason> {
    let other = text(0..40, 255)
        .prop_map(ResetReason::Other)
        .prop_filter("known word", |r| ResetReason::parse(r.as_str()) == *r);
    prop_oneof![
        Just(ResetReason::ConnectFailed),
        Just(ResetReason::WsBroken),
        Just(ResetReason::QueueOverflow),
        Just(ResetReason::ProtocolError),
        other,
    ]
}

fn hello() -> impl Strategy<Value = Hello> {
    (
        text(1..20, 200),
        prop::collection::vec(text(0..10, 64), 0..4),
        text(0..4, 16),
        prop::collection::vec(text(0..4, 16), 0..3),
        any::<Option<u32>>(),
    )
        .prop_map(|(agent_id, connectors, ver, caps, max_frame)| Hello {
            agent_id,
            connectors,
            ver,
            caps,
            max_frame,
        })
}

fn hello_ack() -> impl Strategy<Value = HelloAck> {
    (
        prop::option::of(text(0..4, 16)),
        prop::collection::vec(text(0..4, 16), 0..3),
        any::<Option<u32>>(),
        any::<Option<u32>>(),
    )
        .prop_map(|(ver, caps, max_frame, window)| HelloAck {
            ver,
            caps,
            max_frame,
            window,
        })
}

fn message() -> impl Strategy<Value = Message> {
    let cid = || text(1..32, v1::MAX_CID_LEN);
    prop_oneof![
        hello().prop_map(Message::Hello),
        hello_ack().prop_map(Message::HelloAck),
        (cid(), text(1..40, 255), prop::option::of("[ -~]{1,255}")).prop_map(
            |(cid, connector, traceparent)| {
                Message::Open {
                    cid,
                    connector,
                    traceparent,
                }
            }
        ),
        (
            cid(),
            any::<u64>(),
            prop::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(cid, seq, p)| Message::Data {
                cid,
                seq,
                payload: Bytes::from(p)
            }),
        (cid(), direction()).prop_map(|(cid, dir)| Message::Fin { cid, dir }),
        (cid(), reason()).prop_map(|(cid, err)| Message::Rst { cid, err }),
    ]
}

/// Plausible value of each known field (plus one unknown field).
const FIELDS: [(&str, &str); 14] = [
    ("agent_id", r#""agent-1""#),
    ("connectors", r#"["addomain"]"#),
    ("ver", "2"),
    ("caps", r#"["v2"]"#),
    ("max_frame", "65536"),
    ("window", "819200"),
    ("cid", r#""6f1c""#),
    ("connector", r#""addomain""#),
    ("traceparent", r#""00-ab-01""#),
    ("seq", "7"),
    ("b64", r#""aGk=""#),
    ("dir", r#""a2c""#),
    ("err", r#""ws_broken""#),
    ("tenant", r#""acme""#),
];

/// JSON objects of a known type whose fields are mostly right, sometimes absent, sometimes
/// junk: reaches every field check, and decodes successfully often.
fn json_like() -> impl Strategy<Value = String> {
    let junk = r#"("[a-zA-Z0-9+/=_\\]{0,12}"|-?[0-9]{1,12}|1\.5|null|true|\[\]|\[1\]|\{\})"#;
    let field = |good: &'static str| prop_oneof![3 => Just(None), 6 => Just(Some(good.to_owned())), 1 => junk.prop_map(Some)];
    let t = prop::sample::select(vec![
        "HELLO",
        "HELLO_ACK",
        "OPEN",
        "DATA",
        "FIN",
        "RST",
        "PING",
    ]);
    let fields: Vec<_> = FIELDS.iter().map(|(_, good)| field(good)).collect();
    (t, fields).prop_map(|(t, values)| {
        let mut out = format!(r#"{{"t":"{t}""#);
        for ((name, _), value) in FIELDS.iter().zip(values) {
            if let Some(value) = value {
                out.push_str(&format!(r#","{name}":{value}"#));
            }
        }
        out.push('}');
        out
    })
}

fn survives_round_trip(text: &str) {
    let decoded = v1::decode(text);
    if let Err(e) = &decoded {
        let shown = e.to_string();
        assert!(shown.is_ascii() && shown.len() <= 160, "{shown}");
    }
    if let Ok(msg) = decoded {
        let again = v1::encode(&msg);
        assert_eq!(v1::decode(&again), Ok(msg), "{text}");
    }
}

proptest! {
    #[test]
    fn encode_then_decode_is_identity(msg in message()) {
        let text = v1::encode(&msg);
        prop_assert_eq!(v1::decode(&text), Ok(msg));
    }

    #[test]
    fn decoding_any_string_never_panics(text in any::<String>()) {
        survives_round_trip(&text);
    }

    #[test]
    fn decoding_json_like_text_never_panics(text in json_like()) {
        survives_round_trip(&text);
    }

    #[test]
    fn truncated_messages_never_panic(msg in message(), cut in any::<prop::sample::Index>()) {
        let text = v1::encode(&msg);
        let mut end = cut.index(text.len() + 1);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        survives_round_trip(&text[..end]);
    }
}
