use super::*;

const CID: &str = "6f1c2a3e-8b7d-4c1e-9a0b-1234567890ab";

fn round_trip_exact(text: &str) -> Message {
    let msg = decode(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(encode(&msg), text);
    msg
}

#[test]
fn spec_examples_round_trip_exactly() {
    let open = format!(r#"{{"t":"OPEN","cid":"{CID}","connector":"addomain"}}"#);
    assert_eq!(
        round_trip_exact(&open),
        Message::Open {
            cid: CID.into(),
            connector: "addomain".into(),
            traceparent: None
        }
    );
    let data = format!(r#"{{"t":"DATA","cid":"{CID}","seq":0,"b64":"aGVsbG8="}}"#);
    assert_eq!(
        round_trip_exact(&data),
        Message::Data {
            cid: CID.into(),
            seq: 0,
            payload: Bytes::from_static(b"hello")
        }
    );
    let fin = format!(r#"{{"t":"FIN","cid":"{CID}","dir":"c2a"}}"#);
    assert_eq!(
        round_trip_exact(&fin),
        Message::Fin {
            cid: CID.into(),
            dir: Direction::C2a
        }
    );
    let fin = format!(r#"{{"t":"FIN","cid":"{CID}","dir":"a2c"}}"#);
    assert_eq!(
        round_trip_exact(&fin),
        Message::Fin {
            cid: CID.into(),
            dir: Direction::A2c
        }
    );
    for err in ["connect_failed", "ws_broken", "queue_overflow"] {
        let rst = format!(r#"{{"t":"RST","cid":"{CID}","err":"{err}"}}"#);
        assert_eq!(
            round_trip_exact(&rst),
            Message::Rst {
                cid: CID.into(),
                err: ResetReason::parse(err)
            }
        );
    }
    round_trip_exact(r#"{"t":"HELLO_ACK"}"#);
    round_trip_exact(
        r#"{"t":"HELLO","agent_id":"agent-1","connectors":["addomain","ssh"],"ver":"1"}"#,
    );
    round_trip_exact(
        r#"{"t":"HELLO","agent_id":"a","connectors":[],"ver":"2","caps":["v2"],"max_frame":65536}"#,
    );
    round_trip_exact(
        r#"{"t":"HELLO_ACK","ver":"2","caps":["v2"],"max_frame":65536,"window":819200}"#,
    );
    round_trip_exact(&format!(
        r#"{{"t":"OPEN","cid":"{CID}","connector":"ad","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}"#
    ));
}

#[test]
fn old_agent_hello_with_tenant_and_numeric_ver() {
    let text =
        r#"{"t":"HELLO","agent_id":"agent-1","tenant":"acme","connectors":["addomain"],"ver":1}"#;
    let Message::Hello(hello) = decode(text).unwrap() else {
        panic!("not a HELLO")
    };
    assert_eq!(hello.agent_id, "agent-1");
    assert_eq!(hello.connectors, vec!["addomain".to_owned()]);
    assert_eq!(hello.ver, "1");
    assert!(!hello.offers_v2());
    assert_eq!(
        encode(&Message::Hello(hello)),
        r#"{"t":"HELLO","agent_id":"agent-1","connectors":["addomain"],"ver":"1"}"#
    );
}

#[test]
fn unknown_fields_and_nulls_are_ignored() {
    let text = format!(
        r#"{{"epoch":7,"t":"FIN","x":{{"y":[1,2]}},"cid":"{CID}","dir":"a2c","traceparent":null}}"#
    );
    assert_eq!(
        decode(&text).unwrap(),
        Message::Fin {
            cid: CID.into(),
            dir: Direction::A2c
        }
    );
    let no_ver = r#"{"t":"HELLO","agent_id":"a","connectors":[]}"#;
    let Message::Hello(hello) = decode(no_ver).unwrap() else {
        panic!("not a HELLO")
    };
    assert_eq!(hello.ver, "1");
}

#[test]
fn bad_traceparent_is_dropped_not_fatal() {
    let long = "x".repeat(256);
    for tp in [
        "\"\"".to_owned(),
        "42".to_owned(),
        format!("\"{long}\""),
        "\"é\"".to_owned(),
    ] {
        let text = format!(r#"{{"t":"OPEN","cid":"c","connector":"ad","traceparent":{tp}}}"#);
        assert_eq!(
            decode(&text).unwrap(),
            Message::Open {
                cid: "c".into(),
                connector: "ad".into(),
                traceparent: None
            }
        );
    }
}

#[test]
fn rst_err_is_tolerant() {
    let unknown = decode(r#"{"t":"RST","cid":"c","err":"brand_new"}"#).unwrap();
    assert_eq!(
        unknown,
        Message::Rst {
            cid: "c".into(),
            err: ResetReason::Other("brand_new".into())
        }
    );
    let missing = decode(r#"{"t":"RST","cid":"c"}"#).unwrap();
    assert_eq!(
        missing,
        Message::Rst {
            cid: "c".into(),
            err: ResetReason::Other("unspecified".into())
        }
    );
    let long = decode(&format!(
        r#"{{"t":"RST","cid":"c","err":"{}"}}"#,
        "e".repeat(1000)
    ))
    .unwrap();
    let Message::Rst { err, .. } = long else {
        panic!("not an RST")
    };
    assert_eq!(err.as_str().len(), 255);
}

#[test]
fn unpadded_base64_is_accepted() {
    let msg = decode(r#"{"t":"DATA","cid":"c","seq":3,"b64":"aGVsbG8"}"#).unwrap();
    assert_eq!(
        msg,
        Message::Data {
            cid: "c".into(),
            seq: 3,
            payload: Bytes::from_static(b"hello")
        }
    );
}

#[test]
fn errors() {
    let long_cid = "c".repeat(MAX_CID_LEN + 1);
    let cases: Vec<(String, DecodeError)> = vec![
        (
            r#"{"t":"OPEN","connector":"ad"}"#.into(),
            DecodeError::Field("cid"),
        ),
        (
            r#"{"t":"OPEN","cid":"","connector":"ad"}"#.into(),
            DecodeError::Field("cid"),
        ),
        (
            format!(r#"{{"t":"FIN","cid":"{long_cid}","dir":"c2a"}}"#),
            DecodeError::TooLong("cid"),
        ),
        (
            r#"{"t":"OPEN","cid":"c"}"#.into(),
            DecodeError::Field("connector"),
        ),
        (
            r#"{"t":"HELLO","connectors":[]}"#.into(),
            DecodeError::Field("agent_id"),
        ),
        (
            r#"{"t":"HELLO","agent_id":"a"}"#.into(),
            DecodeError::Field("connectors"),
        ),
        (
            r#"{"t":"HELLO","agent_id":"a","connectors":[],"ver":true}"#.into(),
            DecodeError::Field("ver"),
        ),
        (
            r#"{"t":"DATA","cid":"c","b64":""}"#.into(),
            DecodeError::Field("seq"),
        ),
        (
            r#"{"t":"DATA","cid":"c","seq":1}"#.into(),
            DecodeError::Field("b64"),
        ),
        (
            r#"{"t":"DATA","cid":"c","seq":1,"b64":"!!"}"#.into(),
            DecodeError::Base64,
        ),
        (
            r#"{"t":"FIN","cid":"c","dir":"up"}"#.into(),
            DecodeError::Field("dir"),
        ),
        (r#"{"cid":"c"}"#.into(), DecodeError::Field("t")),
        (
            r#"{"t":"PING"}"#.into(),
            DecodeError::UnknownType("PING".into()),
        ),
        ("[1]".into(), DecodeError::Json("not a JSON object".into())),
    ];
    for (text, want) in cases {
        assert_eq!(decode(&text), Err(want), "{text}");
    }
    assert!(matches!(decode("{"), Err(DecodeError::Json(_))));
    assert!(matches!(decode(""), Err(DecodeError::Json(_))));
}

#[test]
fn errors_never_quote_input_strings() {
    let secret = "s3cr3t-payload";
    for text in [
        format!(r#"{{"t":"DATA","cid":"c","seq":"{secret}","b64":""}}"#),
        format!(r#"{{"t":"HELLO","agent_id":"a","connectors":"{secret}"}}"#),
        format!(r#"{{"t":"DATA","cid":"c","seq":1,"b64":"{secret}"}}"#),
    ] {
        let err = decode(&text).unwrap_err().to_string();
        assert!(!err.contains(secret), "{err}");
    }
    let long_type = format!(r#"{{"t":"{}"}}"#, "T".repeat(500));
    assert!(decode(&long_type).unwrap_err().to_string().len() < 64);
    let odd_type = r#"{"t":"é\u0001x"}"#;
    assert_eq!(
        decode(odd_type),
        Err(DecodeError::UnknownType("??x".into()))
    );
    assert!(decode(odd_type).unwrap_err().to_string().is_ascii());
}

#[test]
fn strings_are_escaped() {
    let msg = Message::Rst {
        cid: "c\"\\\n\u{1}é".into(),
        err: ResetReason::Other("a\tb".into()),
    };
    let text = encode(&msg);
    assert_eq!(text, r#"{"t":"RST","cid":"c\"\\\n\u0001é","err":"a\tb"}"#);
    assert_eq!(decode(&text).unwrap(), msg);
}
