//! Scraping `/metrics` over real HTTP and reading the Prometheus text format back.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `GET /metrics` with a hand-written HTTP/1.1 request; asserts 200 and the exposition
/// content type, returns the body.
pub(crate) async fn scrape(addr: SocketAddr) -> String {
    let mut socket = TcpStream::connect(addr).await.expect("connect metrics");
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut raw))
        .await
        .expect("scrape in time")
        .expect("read response");
    let raw = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("header end");
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    assert!(!head.contains("transfer-encoding: chunked"), "{head}");
    body.to_owned()
}

/// One sample line.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) value: f64,
}

/// A parsed scrape: `# TYPE` per family and every sample.
#[derive(Debug, Default)]
pub(crate) struct Scrape {
    pub(crate) types: BTreeMap<String, String>,
    pub(crate) samples: Vec<Sample>,
}

impl Scrape {
    pub(crate) fn parse(text: &str) -> Scrape {
        let mut out = Scrape::default();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE line");
                out.types.insert(name.to_owned(), kind.to_owned());
            } else if !line.starts_with('#') && !line.trim().is_empty() {
                out.samples.push(parse_sample(line));
            }
        }
        out
    }

    /// `name type label1,label2` per family (label names sorted, `le` left out), sorted.
    pub(crate) fn contract(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .types
            .iter()
            .map(|(family, kind)| {
                let labels: BTreeSet<&str> = self
                    .samples
                    .iter()
                    .filter(|s| family_of(&s.name, &self.types) == Some(family.as_str()))
                    .flat_map(|s| s.labels.keys().map(String::as_str))
                    .filter(|l| *l != "le")
                    .collect();
                let labels: Vec<&str> = labels.into_iter().collect();
                format!("{family} {kind} {}", labels.join(","))
            })
            .collect();
        lines.sort();
        lines
    }

    /// The value of the sample with exactly these labels.
    pub(crate) fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .map(|s| s.value)
    }

    /// Like [`Scrape::get`], 0 when the series is absent.
    pub(crate) fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or(0.0)
    }
}

/// The family a sample belongs to (histograms add `_bucket`, `_sum`, `_count`).
fn family_of<'a>(sample: &str, types: &'a BTreeMap<String, String>) -> Option<&'a str> {
    if let Some((family, _)) = types.get_key_value(sample) {
        return Some(family);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = sample.strip_suffix(suffix)?;
        types
            .get_key_value(base)
            .filter(|(_, kind)| *kind == "histogram")
            .map(|(family, _)| family.as_str())
    })
}

fn parse_sample(line: &str) -> Sample {
    let (series, value) = line.rsplit_once(' ').expect("sample value");
    let value = match value {
        "+Inf" => f64::INFINITY,
        v => v.parse().expect("numeric sample"),
    };
    let (name, labels) = match series.split_once('{') {
        None => (series, BTreeMap::new()),
        Some((name, rest)) => {
            let body = rest.strip_suffix('}').expect("closing brace");
            let labels = body
                .split("\",")
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once("=\"").expect("label pair");
                    (k.to_owned(), v.trim_end_matches('"').to_owned())
                })
                .collect();
            (name, labels)
        }
    };
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}

/// Scrapes until `check` holds (generous timeout), returning that scrape.
pub(crate) async fn wait_for(
    addr: SocketAddr,
    what: &str,
    check: impl Fn(&Scrape) -> bool,
) -> Scrape {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = scrape(addr).await;
        let parsed = Scrape::parse(&text);
        if check(&parsed) {
            return parsed;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never saw {what}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `promtool check metrics` (the real binary) accepts `text` without a complaint.
pub(crate) fn promtool_check(text: &str) {
    let mut child = Command::new("/usr/bin/promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool at /usr/bin/promtool (scripts/install-deps.sh)");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(text.as_bytes()).expect("write stdin");
    drop(stdin);
    let out = child.wait_with_output().expect("promtool output");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool: {report}\n{text}");
    assert!(report.trim().is_empty(), "promtool complained: {report}");
}
