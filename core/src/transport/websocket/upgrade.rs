//! The HTTP/1.1 upgrade that opens a WebSocket (RFC 6455 §4): the client's `GET` with a random
//! `Sec-WebSocket-Key`, the server's `101` with `Sec-WebSocket-Accept`, the SHA-1 of the key and
//! a fixed GUID in base64.
//!
//! Only what this transport needs is accepted: no extensions (so no compression), no
//! subprotocols, version 13. Heads are bounded ([`MAX_HEAD_LEN`], [`MAX_HEADERS`]).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha1::{Digest, Sha1};

use super::UpgradeError;

/// The longest request or response head (request line, headers, blank line) accepted.
pub const MAX_HEAD_LEN: usize = 8 * 1024;
/// The most header lines accepted in a head.
pub const MAX_HEADERS: usize = 64;

/// Appended to the client's key before hashing (RFC 6455 §1.3).
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`.
pub fn accept_value(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(ACCEPT_GUID.as_bytes());
    STANDARD.encode(sha.finalize())
}

/// Where the head in `bytes` ends (just after the blank line), once it is all there.
/// Refuses a head that would grow past [`MAX_HEAD_LEN`].
pub fn head_end(bytes: &[u8]) -> Result<Option<usize>, UpgradeError> {
    let window = bytes.get(..MAX_HEAD_LEN).unwrap_or(bytes);
    match window.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) => Ok(Some(at + 4)),
        None if bytes.len() >= MAX_HEAD_LEN => Err(UpgradeError::HeadTooLong),
        None => Ok(None),
    }
}

/// A parsed head: its first line split in three, and its headers.
struct Head<'a> {
    first: [&'a str; 3],
    headers: Vec<(&'a str, &'a str)>,
}

impl<'a> Head<'a> {
    /// Parses a complete head (as delimited by [`head_end`]).
    fn parse(head: &'a [u8]) -> Result<Self, UpgradeError> {
        let text = std::str::from_utf8(head).map_err(|_| UpgradeError::Malformed)?;
        let text = text
            .strip_suffix("\r\n\r\n")
            .ok_or(UpgradeError::Malformed)?;
        let mut lines = text.split("\r\n");
        let first_line = lines.next().ok_or(UpgradeError::Malformed)?;
        let mut parts = first_line.splitn(3, ' ');
        let first = [
            parts.next().ok_or(UpgradeError::Malformed)?,
            parts.next().ok_or(UpgradeError::Malformed)?,
            parts.next().ok_or(UpgradeError::Malformed)?,
        ];
        let mut headers = Vec::new();
        for line in lines {
            if headers.len() >= MAX_HEADERS {
                return Err(UpgradeError::TooManyHeaders);
            }
            // Folded continuation lines are obsolete (RFC 9112 §5.2) and refused.
            let (name, value) = line.split_once(':').ok_or(UpgradeError::Malformed)?;
            if name.is_empty() || name.contains([' ', '\t']) {
                return Err(UpgradeError::Malformed);
            }
            headers.push((name, value.trim_matches([' ', '\t'])));
        }
        Ok(Self { first, headers })
    }

    /// The value of the only header with this name (case-insensitive); a repeated one is
    /// refused, since the fields used here are single-valued or comma lists.
    fn header(&self, name: &str) -> Result<Option<&'a str>, UpgradeError> {
        let mut found = None;
        for (n, v) in &self.headers {
            if n.eq_ignore_ascii_case(name) {
                if found.is_some() {
                    return Err(UpgradeError::Malformed);
                }
                found = Some(*v);
            }
        }
        Ok(found)
    }

    /// Whether the comma-separated header `name` lists `token` (case-insensitive).
    fn lists(&self, name: &str, token: &str) -> Result<bool, UpgradeError> {
        Ok(self
            .header(name)?
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token))))
    }
}

/// A valid upgrade request, as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// The request target (the reference's clients ask for `/`; any path is served).
    pub path: String,
    /// The client's `Sec-WebSocket-Key`.
    pub key: String,
}

/// Checks a client's complete request head.
pub fn parse_request(head: &[u8]) -> Result<UpgradeRequest, UpgradeError> {
    let head = Head::parse(head)?;
    let [method, path, version] = head.first;
    if method != "GET" {
        return Err(UpgradeError::NotGet);
    }
    if version != "HTTP/1.1" {
        return Err(UpgradeError::HttpVersion);
    }
    if !head.lists("Upgrade", "websocket")? || !head.lists("Connection", "upgrade")? {
        return Err(UpgradeError::NotUpgrade);
    }
    if head.header("Sec-WebSocket-Version")? != Some("13") {
        return Err(UpgradeError::WebSocketVersion);
    }
    let key = head.header("Sec-WebSocket-Key")?.ok_or(UpgradeError::Key)?;
    // RFC 6455 §4.1: the key is 16 random bytes in base64.
    match STANDARD.decode(key) {
        Ok(raw) if raw.len() == 16 => {}
        _ => return Err(UpgradeError::Key),
    }
    Ok(UpgradeRequest {
        path: path.to_owned(),
        key: key.to_owned(),
    })
}

/// The server's answer accepting `request` (the reason phrase is the reference's).
pub fn accept_response(request: &UpgradeRequest) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 WebSocket Protocol Handshake\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_value(&request.key)
    )
    .into_bytes()
}

/// The server's answer to a request it refused: `400`, naming the supported version as
/// RFC 6455 §4.4 asks, and no body.
pub fn refusal_response() -> Vec<u8> {
    b"HTTP/1.1 400 Bad Request\r\n\
      Sec-WebSocket-Version: 13\r\n\
      Content-Length: 0\r\n\
      Connection: close\r\n\r\n"
        .to_vec()
}

/// The client's request for `path` on `host` with the 16 random bytes of its key; returns the
/// request and the `Sec-WebSocket-Accept` value the server must answer with.
pub fn client_request(host: &str, path: &str, key: [u8; 16]) -> (Vec<u8>, String) {
    let key = STANDARD.encode(key);
    let request = format!(
        "GET {path} HTTP/1.1\r\n\
         Host: {host}\r\n\
         Connection: Upgrade\r\n\
         Upgrade: websocket\r\n\
         Sec-WebSocket-Key: {key}\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes();
    (request, accept_value(&key))
}

/// Checks the server's complete response head against the accept value expected.
pub fn check_response(head: &[u8], expected_accept: &str) -> Result<(), UpgradeError> {
    let head = Head::parse(head)?;
    let [version, status, _reason] = head.first;
    if version != "HTTP/1.1" {
        return Err(UpgradeError::HttpVersion);
    }
    if status != "101" {
        return Err(UpgradeError::Status);
    }
    if !head.lists("Upgrade", "websocket")? || !head.lists("Connection", "upgrade")? {
        return Err(UpgradeError::NotUpgrade);
    }
    if head.header("Sec-WebSocket-Accept")? != Some(expected_accept) {
        return Err(UpgradeError::Accept);
    }
    // Nothing was offered, so nothing may be chosen.
    if head.header("Sec-WebSocket-Extensions")?.is_some()
        || head.header("Sec-WebSocket-Protocol")?.is_some()
    {
        return Err(UpgradeError::Unrequested);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_accept_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_value("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn request_round_trip() {
        let (request, accept) = client_request("", "/", *b"the sample nonce");
        let end = head_end(&request).unwrap().unwrap();
        assert_eq!(end, request.len());
        let parsed = parse_request(&request).unwrap();
        assert_eq!(parsed.key, "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(parsed.path, "/");
        let response = accept_response(&parsed);
        assert_eq!(check_response(&response, &accept), Ok(()));
        assert_eq!(check_response(&response, "x"), Err(UpgradeError::Accept));
    }

    #[test]
    fn refused_requests() {
        let ok = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n\
                  Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        assert!(parse_request(ok.as_bytes()).is_ok());
        let cases = [
            (ok.replace("GET", "POST"), UpgradeError::NotGet),
            (
                ok.replace("HTTP/1.1", "HTTP/1.0"),
                UpgradeError::HttpVersion,
            ),
            (
                ok.replace("Upgrade: WebSocket", "Upgrade: h2c"),
                UpgradeError::NotUpgrade,
            ),
            (
                ok.replace("Version: 13", "Version: 8"),
                UpgradeError::WebSocketVersion,
            ),
            (
                ok.replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="),
                UpgradeError::Key,
            ),
            (ok.replace("Host: x", " folded"), UpgradeError::Malformed),
        ];
        for (request, error) in cases {
            assert_eq!(parse_request(request.as_bytes()), Err(error), "{request}");
        }
        assert_eq!(
            head_end(&[b'a'; MAX_HEAD_LEN]),
            Err(UpgradeError::HeadTooLong)
        );
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), Ok(None));
    }
}
