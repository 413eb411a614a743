//! The fuzz targets' properties in CI. `fuzz/src/protocol.rs` (what `cargo fuzz` runs) is
//! included here unchanged; every committed corpus file of `v1_decode`, `v2_decode` and
//! `handshake` is replayed through it, and proptest mutates corpus files (flipped, inserted and
//! removed bytes, truncation) and feeds them to every check, a small fuzzer on each CI run.

#![allow(clippy::expect_used)]

#[allow(unreachable_pub, dead_code)]
#[path = "../../../fuzz/src/protocol.rs"]
mod checks;

use bytes::Bytes;
use nowconnect_protocol::hello::MAX_FRAME;
use nowconnect_protocol::v1::{self, Message};
use nowconnect_protocol::v2;
use proptest::prelude::*;
use std::path::PathBuf;
use std::sync::OnceLock;

const TARGETS: [&str; 3] = ["v1_decode", "v2_decode", "handshake"];

/// The corpus files of `target`, sorted by name; panics if there are none.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("corpus entry").path();
            let data = std::fs::read(&path).expect("read corpus file");
            (path, data)
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "{}: only {} files",
        dir.display(),
        files.len()
    );
    files
}

/// All corpus files of all protocol targets (mutation sources).
fn all_files() -> &'static [Vec<u8>] {
    static ALL: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    ALL.get_or_init(|| {
        TARGETS
            .iter()
            .flat_map(|t| corpus(t))
            .map(|(_, data)| data)
            .collect()
    })
}

fn check_all(data: &[u8]) {
    checks::v1_decode(data);
    checks::v2_decode(data);
    checks::handshake(data);
}

#[test]
fn every_corpus_file_keeps_every_property() {
    for target in TARGETS {
        for (path, data) in corpus(target) {
            let replay = std::panic::catch_unwind(|| check_all(&data));
            assert!(replay.is_ok(), "{} breaks a property", path.display());
        }
    }
}

/// The seeds come from real sessions: the handshake corpus holds a HELLO offering V2 and a
/// HELLO_ACK granting it, the V1 corpus decodes to every message type, the V2 corpus to frames.
#[test]
fn the_corpus_holds_real_traffic() {
    let decoded: Vec<Message> = corpus("handshake")
        .iter()
        .filter_map(|(_, d)| v1::decode(std::str::from_utf8(d).ok()?).ok())
        .collect();
    assert!(
        decoded
            .iter()
            .any(|m| matches!(m, Message::Hello(h) if h.offers_v2()))
    );
    assert!(
        decoded
            .iter()
            .any(|m| matches!(m, Message::HelloAck(a) if a.window.is_some()))
    );

    let kinds: std::collections::BTreeSet<&str> = corpus("v1_decode")
        .iter()
        .filter_map(|(_, d)| v1::decode(std::str::from_utf8(d).ok()?).ok())
        .map(|m| match m {
            Message::Hello(_) => "HELLO",
            Message::HelloAck(_) => "HELLO_ACK",
            Message::Open { .. } => "OPEN",
            Message::Data { .. } => "DATA",
            Message::Fin { .. } => "FIN",
            Message::Rst { .. } => "RST",
        })
        .collect();
    assert_eq!(kinds.len(), 6, "V1 corpus covers only {kinds:?}");

    let frames = corpus("v2_decode")
        .iter()
        .filter(|(_, d)| {
            let mut src = Bytes::copy_from_slice(d);
            matches!(v2::decode(&mut src, MAX_FRAME), Ok(Some(_)))
        })
        .count();
    assert!(frames >= 5, "only {frames} V2 corpus files decode");
}

/// One edit of a corpus file.
#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Remove),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

/// Applies `edits` to a copy of `data` (positions wrap around its length).
fn mutate(data: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = data.to_vec();
    for e in edits {
        let len = out.len();
        match *e {
            Edit::Set(i, b) if len > 0 => out[i % len] = b,
            Edit::Insert(i, b) => out.insert(i % (len + 1), b),
            Edit::Remove(i) if len > 0 => {
                out.remove(i % len);
            }
            Edit::Truncate(i) => out.truncate(i % (len + 1)),
            _ => {}
        }
    }
    out
}

proptest! {
    #[test]
    fn mutated_corpus_files_keep_every_property(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..8),
    ) {
        let files = all_files();
        check_all(&mutate(&files[pick.index(files.len())], &edits));
    }

    /// Two corpus files back to back (a binary message carrying several frames, or text with
    /// a tail) keep every property.
    #[test]
    fn concatenated_corpus_files_keep_every_property(
        a in any::<prop::sample::Index>(),
        b in any::<prop::sample::Index>(),
    ) {
        let files = all_files();
        let mut data = files[a.index(files.len())].clone();
        data.extend_from_slice(&files[b.index(files.len())]);
        check_all(&data);
    }
}
