//! HTTP CONNECT through a corporate proxy: the proxy URL, `NO_PROXY` matching, the handshake.
//!
//! `NO_PROXY` follows the common curl/Go semantics: a comma-separated list; `*` matches every
//! host; an entry matches the host itself and every subdomain (`example.com` and
//! `.example.com` both match `hub.example.com` and `example.com`); an IP literal matches that
//! address; an entry with `:port` matches only that port. CIDR ranges are not supported.
//! Matching is case-insensitive.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Longest CONNECT response header accepted.
const MAX_RESPONSE: usize = 16 * 1024;

/// A parsed proxy URL. `Debug` hides the credentials.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ProxyUrl {
    /// `https://` proxies are reached over TLS themselves.
    pub(crate) tls: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `user:password`, percent-decoded, for `Proxy-Authorization: Basic`.
    credentials: Option<String>,
}

impl std::fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyUrl")
            .field("tls", &self.tls)
            .field("host", &self.host)
            .field("port", &self.port)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl ProxyUrl {
    /// Parses `http(s)://[user[:password]@]host[:port][/]`. The error never quotes the URL
    /// (it may carry a password).
    pub(crate) fn parse(url: &str) -> Result<ProxyUrl, &'static str> {
        let url = url.trim();
        let lower = url.to_ascii_lowercase();
        let (tls, rest) = if lower.starts_with("http://") {
            (false, &url["http://".len()..])
        } else if lower.starts_with("https://") {
            (true, &url["https://".len()..])
        } else {
            return Err("proxy URL must start with http:// or https://");
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport).ok_or("proxy URL has a bad host or port")?;
        if host.is_empty() {
            return Err("proxy URL has no host");
        }
        let credentials = userinfo.map(|u| match u.split_once(':') {
            Some((user, pass)) => format!("{}:{}", percent_decode(user), percent_decode(pass)),
            None => format!("{}:", percent_decode(u)),
        });
        Ok(ProxyUrl {
            tls,
            host: host.to_owned(),
            port: port.unwrap_or(if tls { 443 } else { 80 }),
            credentials,
        })
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` → (host without brackets, port).
pub(crate) fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(p) => Some((host, Some(p.parse().ok()?))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match s.rsplit_once(':') {
        Some((host, p)) if !host.contains(':') => Some((host, Some(p.parse().ok()?))),
        Some(_) => Some((s, None)), // a bare IPv6 address
        None => Some((s, None)),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `host:port` is exempted from the proxy by `no_proxy`.
pub(crate) fn bypass(no_proxy: Option<&str>, host: &str, port: u16) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    no_proxy.unwrap_or_default().split(',').any(|entry| {
        let entry = entry.trim().to_ascii_lowercase();
        if entry.is_empty() {
            return false;
        }
        if entry == "*" {
            return true;
        }
        let (name, want_port) = split_host_port(&entry).unwrap_or((&entry, None));
        if want_port.is_some_and(|p| p != port) {
            return false;
        }
        let name = name.trim_start_matches("*.").trim_start_matches('.');
        !name.is_empty() && (host == name || host.ends_with(&format!(".{name}")))
    })
}

/// Why the proxy did not open the tunnel.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyError {
    #[error("proxy answered CONNECT with HTTP {0}{hint}", hint = if matches!(*.0, 401 | 407) { " (proxy authentication required or rejected)" } else { "" })]
    Refused(u16),
    #[error("proxy: {0}")]
    Io(String),
    #[error("proxy sent a malformed CONNECT response")]
    Malformed,
}

/// Sends `CONNECT host:port` over `io` and checks for a 2xx. Reads exactly the response
/// header, so the stream is positioned at the first tunnelled byte.
pub(crate) async fn connect<S>(
    io: &mut S,
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
) -> Result<(), ProxyError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(credentials) = &proxy.credentials {
        request.push_str("Proxy-Authorization: Basic ");
        request.push_str(&STANDARD.encode(credentials));
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let io_err = |e: std::io::Error| ProxyError::Io(e.to_string());
    io.write_all(request.as_bytes()).await.map_err(io_err)?;
    io.flush().await.map_err(io_err)?;
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_RESPONSE {
            return Err(ProxyError::Malformed);
        }
        match io.read(&mut byte).await.map_err(io_err)? {
            0 => return Err(ProxyError::Io("closed before answering CONNECT".into())),
            _ => head.push(byte[0]),
        }
    }
    let status = status_code(&head).ok_or(ProxyError::Malformed)?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(ProxyError::Refused(status))
    }
}

/// The status code of an `HTTP/1.x NNN reason` status line.
fn status_code(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proxy_urls_and_hides_credentials() {
        let p = ProxyUrl::parse("http://us%40er:p%3Ass@proxy.corp:3128/")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (p.tls, p.host.as_str(), p.port),
            (false, "proxy.corp", 3128)
        );
        assert_eq!(p.credentials.as_deref(), Some("us@er:p:ss"));
        assert!(!format!("{p:?}").contains("p:ss"));
        let p = ProxyUrl::parse("HTTPS://[::1]").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((p.tls, p.host.as_str(), p.port), (true, "::1", 443));
        assert!(ProxyUrl::parse("socks5://x:1").is_err());
        assert!(ProxyUrl::parse("http://x:notaport").is_err());
        assert!(ProxyUrl::parse("http://:8080").is_err());
    }

    #[test]
    fn no_proxy_semantics() {
        let np = Some(" example.com, .corp.local ,10.0.0.7,hub.other:8443");
        assert!(bypass(np, "example.com", 443));
        assert!(bypass(np, "Hub.Example.com", 443));
        assert!(!bypass(np, "badexample.com", 443));
        assert!(bypass(np, "x.corp.local", 1));
        assert!(bypass(np, "corp.local", 1));
        assert!(bypass(np, "10.0.0.7", 443));
        assert!(!bypass(np, "10.0.0.70", 443));
        assert!(bypass(np, "hub.other", 8443));
        assert!(!bypass(np, "hub.other", 443));
        assert!(bypass(Some("*"), "anything", 1));
        assert!(!bypass(None, "example.com", 443));
        assert!(!bypass(Some(""), "example.com", 443));
        assert!(bypass(Some("::1"), "[::1]", 443));
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            status_code(b"HTTP/1.1 200 Connection established\r\n\r\n"),
            Some(200)
        );
        assert_eq!(status_code(b"HTTP/1.0 407 Proxy Auth\r\n\r\n"), Some(407));
        assert_eq!(status_code(b"SSH-2.0\r\n\r\n"), None);
    }

    #[tokio::test]
    async fn connect_sends_auth_and_stops_at_the_header() {
        let (mut client, mut server) = tokio::io::duplex(4096);
        let proxy = ProxyUrl::parse("http://u:p@proxy:1").unwrap_or_else(|e| panic!("{e}"));
        let peer = tokio::spawn(async move {
            let mut buf = vec![0u8; 1024];
            let n = server.read(&mut buf).await.unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            let _ = server.write_all(b"HTTP/1.1 200 OK\r\n\r\nTUNNELLED").await;
            req
        });
        connect(&mut client, &proxy, "hub", 443)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut rest = [0u8; 9];
        client
            .read_exact(&mut rest)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&rest, b"TUNNELLED");
        let req = peer.await.unwrap_or_default();
        assert!(req.starts_with("CONNECT hub:443 HTTP/1.1\r\n"), "{req}");
        assert!(req.contains("Proxy-Authorization: Basic dTpw\r\n"), "{req}");
    }
}
