use super::*;

const HUB: HubV2 = HubV2 {
    max_frame: 65536,
    window: 819_200,
};

#[test]
fn new_builds_v1_and_v2_hellos() {
    let v1 = Hello::new("a1", vec!["ad".into()], None);
    assert_eq!(
        (v1.ver.as_str(), v1.caps.len(), v1.max_frame),
        ("1", 0, None)
    );
    assert!(!v1.offers_v2());
    let v2 = Hello::new("a1", vec!["ad".into()], Some(65536));
    assert_eq!(v2.ver, "2");
    assert_eq!(v2.caps, vec!["v2".to_owned()]);
    assert!(v2.offers_v2());
}

#[test]
fn offers_v2_is_case_sensitive() {
    let hello = Hello {
        caps: vec!["V2".into()],
        ..Hello::default()
    };
    assert!(!hello.offers_v2());
}

#[test]
fn v2_agent_and_v2_hub_agree() {
    let hello = Hello::new("a1", vec![], Some(32768));
    let (ack, hub_side) = hub_answer(&hello, Some(HUB));
    assert_eq!(
        hub_side,
        Negotiated::V2 {
            max_frame: 32768,
            window: 819_200
        }
    );
    assert_eq!(agent_outcome(&ack, hello.max_frame), hub_side);
}

#[test]
fn old_agent_or_v1_hub_stays_v1() {
    let old = Hello {
        agent_id: "a".into(),
        ver: "1".into(),
        ..Hello::default()
    };
    let (ack, n) = hub_answer(&old, Some(HUB));
    assert_eq!(n, Negotiated::V1);
    assert_eq!(
        ack,
        HelloAck {
            ver: Some("1".into()),
            ..HelloAck::default()
        }
    );
    let (ack, n) = hub_answer(&Hello::new("a", vec![], Some(65536)), None);
    assert_eq!(n, Negotiated::V1);
    assert_eq!(agent_outcome(&ack, Some(65536)), Negotiated::V1);
}

#[test]
fn old_hub_bare_ack_is_v1() {
    assert_eq!(
        agent_outcome(&HelloAck::default(), Some(65536)),
        Negotiated::V1
    );
}

#[test]
fn hub_clamps_and_defaults_max_frame() {
    let mut hello = Hello::new("a", vec![], Some(u32::MAX));
    let big_hub = HubV2 {
        max_frame: u32::MAX,
        window: 0,
    };
    let (_, n) = hub_answer(&hello, Some(big_hub));
    assert_eq!(
        n,
        Negotiated::V2 {
            max_frame: MAX_FRAME,
            window: MAX_FRAME
        }
    );
    hello.max_frame = None;
    let (_, n) = hub_answer(&hello, Some(HUB));
    assert_eq!(
        n,
        Negotiated::V2 {
            max_frame: 65536,
            window: 819_200
        }
    );
    let tiny_hub = HubV2 {
        max_frame: 10,
        window: 10,
    };
    let (ack, n) = hub_answer(&hello, Some(tiny_hub));
    assert_eq!(
        n,
        Negotiated::V2 {
            max_frame: MIN_FRAME,
            window: MIN_FRAME
        }
    );
    assert_eq!(agent_outcome(&ack, None), n);
}

#[test]
fn offer_below_minimum_gets_v1() {
    let hello = Hello::new("a", vec![], Some(512));
    assert_eq!(hub_answer(&hello, Some(HUB)).1, Negotiated::V1);
}

#[test]
fn agent_rejects_insane_acks() {
    let good = HelloAck {
        ver: Some("2".into()),
        caps: vec!["v2".into()],
        max_frame: Some(4096),
        window: Some(8192),
    };
    assert_eq!(
        agent_outcome(&good, Some(4096)),
        Negotiated::V2 {
            max_frame: 4096,
            window: 8192
        }
    );
    assert_eq!(
        agent_outcome(&good, None),
        Negotiated::V2 {
            max_frame: 4096,
            window: 8192
        }
    );
    let cases = [
        HelloAck {
            caps: vec![],
            ..good.clone()
        },
        HelloAck {
            max_frame: None,
            ..good.clone()
        },
        HelloAck {
            window: None,
            ..good.clone()
        },
        HelloAck {
            max_frame: Some(100),
            ..good.clone()
        },
        HelloAck {
            max_frame: Some(MAX_FRAME + 1),
            window: Some(u32::MAX),
            ..good.clone()
        },
        HelloAck {
            window: Some(4095),
            ..good.clone()
        },
    ];
    for ack in cases {
        assert_eq!(agent_outcome(&ack, Some(65536)), Negotiated::V1, "{ack:?}");
    }
    assert_eq!(agent_outcome(&good, Some(2048)), Negotiated::V1);
}
