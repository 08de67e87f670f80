//! What `smp-client` keeps about a queue between invocations, as a small text file.
//!
//! One `name=value` pair a line; `#` starts a comment line; unknown names are kept out (and
//! refused), so a typo does not pass silently. Ids and keys are base64url with padding (keys:
//! the DER of signature keys, the 32 raw bytes of X25519 keys). The file holds private keys:
//! the program writes it readable by its owner only. See `spec/client.md`.

use simplex_core::address::ServerAddress;
use simplex_core::crypto::keys::SignKey;
use simplex_core::crypto::x25519;
use simplex_core::encoding::string::{base64url_decode, base64url_encode, StrDecode, StrEncode};
use simplex_core::protocol::EntityId;
use zeroize::Zeroizing;

/// The longest queue file we read (a full one is under 2 KiB).
pub const MAX_QUEUE_FILE: usize = 16 * 1024;

/// Notification keys of a queue (after `NKEY`).
#[derive(Clone)]
pub struct NotifierState {
    /// The id a notifier subscribes with.
    pub notifier_id: EntityId,
    /// Signs `NSUB`.
    pub notifier_key: SignKey,
    /// The recipient's half of the notification-metadata key.
    pub dh_key: x25519::PrivateKey,
    /// The server's half.
    pub server_dh_key: x25519::PublicKey,
}

/// One queue, as the recipient knows it.
#[derive(Clone)]
pub struct QueueState {
    /// The queue's server.
    pub server: ServerAddress,
    /// The recipient's id.
    pub recipient_id: EntityId,
    /// The id senders use.
    pub sender_id: EntityId,
    /// Signs the recipient's commands.
    pub recipient_key: SignKey,
    /// The recipient's half of the body key.
    pub dh_key: x25519::PrivateKey,
    /// The server's half of the body key.
    pub server_dh_key: x25519::PublicKey,
    /// The sender's key, once the queue is secured.
    pub sender_key: Option<SignKey>,
    /// Notification keys, once enabled.
    pub notifier: Option<NotifierState>,
}

impl std::fmt::Debug for QueueState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueState")
            .field("secured", &self.sender_key.is_some())
            .field("notifications", &self.notifier.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a queue file did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueFileError {
    /// Longer than [`MAX_QUEUE_FILE`].
    #[error("the file is too long")]
    TooLong,
    /// A line is not `name=value`.
    #[error("line {0} is not name=value")]
    Syntax(usize),
    /// A name we do not know, or one given twice.
    #[error("line {0}: unknown or repeated name")]
    Name(usize),
    /// A value that does not decode.
    #[error("the value of {0} does not decode")]
    Value(&'static str),
    /// A required name is missing.
    #[error("{0} is missing")]
    Missing(&'static str),
}

const NAMES: [&str; 12] = [
    "server",
    "recipient_id",
    "sender_id",
    "recipient_key",
    "recipient_dh_key",
    "server_dh_key",
    "sender_key",
    "notifier_id",
    "notifier_key",
    "notifier_dh_key",
    "server_ntf_dh_key",
    "version",
];

/// The text form of an id (base64url with padding).
pub fn id_text(id: &EntityId) -> String {
    base64url_encode(id.as_bytes())
}

/// Parses the text form of an id.
pub fn parse_id(text: &str) -> Option<EntityId> {
    let bytes = base64url_decode(text.as_bytes()).ok()?;
    EntityId::new(bytes).ok()
}

fn private_dh_text(key: &x25519::PrivateKey) -> Zeroizing<String> {
    Zeroizing::new(base64url_encode(key.to_bytes().expose()))
}

fn parse_private_dh(text: &str) -> Option<x25519::PrivateKey> {
    let bytes = Zeroizing::new(base64url_decode(text.as_bytes()).ok()?);
    let array: &[u8; 32] = bytes.as_slice().try_into().ok()?;
    Some(x25519::PrivateKey::from_bytes(array))
}

fn parse_public_dh(text: &str) -> Option<x25519::PublicKey> {
    let bytes = base64url_decode(text.as_bytes()).ok()?;
    let array: &[u8; 32] = bytes.as_slice().try_into().ok()?;
    Some(x25519::PublicKey::from_bytes(array))
}

impl QueueState {
    /// The file's text.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::from(
            "# smp-client queue state. It holds private keys: keep it private.\n",
        ));
        let mut line = |name: &str, value: &str| {
            out.push_str(name);
            out.push('=');
            out.push_str(value);
            out.push('\n');
        };
        line("version", "1");
        line(
            "server",
            &String::from_utf8_lossy(&self.server.to_str_bytes()),
        );
        line("recipient_id", &id_text(&self.recipient_id));
        line("sender_id", &id_text(&self.sender_id));
        line(
            "recipient_key",
            &Zeroizing::new(self.recipient_key.to_base64url()),
        );
        line("recipient_dh_key", &private_dh_text(&self.dh_key));
        line(
            "server_dh_key",
            &base64url_encode(self.server_dh_key.as_bytes()),
        );
        if let Some(key) = &self.sender_key {
            line("sender_key", &Zeroizing::new(key.to_base64url()));
        }
        if let Some(n) = &self.notifier {
            line("notifier_id", &id_text(&n.notifier_id));
            line(
                "notifier_key",
                &Zeroizing::new(n.notifier_key.to_base64url()),
            );
            line("notifier_dh_key", &private_dh_text(&n.dh_key));
            line(
                "server_ntf_dh_key",
                &base64url_encode(n.server_dh_key.as_bytes()),
            );
        }
        out
    }

    /// Parses a file's text.
    pub fn parse(text: &[u8]) -> Result<Self, QueueFileError> {
        if text.len() > MAX_QUEUE_FILE {
            return Err(QueueFileError::TooLong);
        }
        let text = std::str::from_utf8(text).map_err(|_| QueueFileError::Syntax(0))?;
        let mut values: [Option<&str>; NAMES.len()] = [None; NAMES.len()];
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, value) = line.split_once('=').ok_or(QueueFileError::Syntax(n + 1))?;
            let slot = NAMES
                .iter()
                .position(|known| *known == name.trim())
                .and_then(|i| values.get_mut(i))
                .filter(|v| v.is_none())
                .ok_or(QueueFileError::Name(n + 1))?;
            *slot = Some(value.trim());
        }
        let get = |name: &'static str| -> Option<&str> {
            NAMES
                .iter()
                .position(|known| *known == name)
                .and_then(|i| values.get(i).copied().flatten())
        };
        let need = |name: &'static str| get(name).ok_or(QueueFileError::Missing(name));
        let bad = QueueFileError::Value;
        if need("version")? != "1" {
            return Err(bad("version"));
        }
        let server =
            ServerAddress::str_decode(need("server")?.as_bytes()).map_err(|_| bad("server"))?;
        let sign_key =
            |name: &'static str, text: &str| SignKey::from_base64url(text).map_err(|_| bad(name));
        let sender_key = get("sender_key")
            .map(|t| sign_key("sender_key", t))
            .transpose()?;
        let notifier = match get("notifier_id") {
            None => None,
            Some(id) => Some(NotifierState {
                notifier_id: parse_id(id).ok_or(bad("notifier_id"))?,
                notifier_key: sign_key("notifier_key", need("notifier_key")?)?,
                dh_key: parse_private_dh(need("notifier_dh_key")?).ok_or(bad("notifier_dh_key"))?,
                server_dh_key: parse_public_dh(need("server_ntf_dh_key")?)
                    .ok_or(bad("server_ntf_dh_key"))?,
            }),
        };
        Ok(Self {
            server,
            recipient_id: parse_id(need("recipient_id")?).ok_or(bad("recipient_id"))?,
            sender_id: parse_id(need("sender_id")?).ok_or(bad("sender_id"))?,
            recipient_key: sign_key("recipient_key", need("recipient_key")?)?,
            dh_key: parse_private_dh(need("recipient_dh_key")?).ok_or(bad("recipient_dh_key"))?,
            server_dh_key: parse_public_dh(need("server_dh_key")?).ok_or(bad("server_dh_key"))?,
            sender_key,
            notifier,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use simplex_core::client::{generate_sign_key, RecipientKeys, SignAlgorithm};

    fn state() -> QueueState {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let keys = RecipientKeys::generate(SignAlgorithm::Ed448, &mut rng);
        let server = ServerAddress::str_decode(
            b"smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@localhost,127.0.0.1:5001",
        )
        .unwrap();
        QueueState {
            server,
            recipient_id: EntityId::from_slice(&[1; 24]).unwrap(),
            sender_id: EntityId::from_slice(&[2; 24]).unwrap(),
            recipient_key: keys.sign_key,
            dh_key: keys.dh_key,
            server_dh_key: x25519::PrivateKey::generate(&mut rng).public_key(),
            sender_key: Some(generate_sign_key(SignAlgorithm::Ed25519, &mut rng)),
            notifier: Some(NotifierState {
                notifier_id: EntityId::from_slice(&[3; 24]).unwrap(),
                notifier_key: generate_sign_key(SignAlgorithm::Ed448, &mut rng),
                dh_key: x25519::PrivateKey::generate(&mut rng),
                server_dh_key: x25519::PrivateKey::generate(&mut rng).public_key(),
            }),
        }
    }

    #[test]
    fn round_trips() {
        let s = state();
        let text = s.to_text();
        let back = QueueState::parse(text.as_bytes()).unwrap();
        assert_eq!(back.to_text(), text);
        assert_eq!(back.server, s.server);
        assert_eq!(back.recipient_id, s.recipient_id);
    }

    #[test]
    fn refuses_unknown_repeated_and_missing_names() {
        let text = state().to_text();
        let unknown = format!("{}colour=blue\n", text.as_str());
        assert!(matches!(
            QueueState::parse(unknown.as_bytes()),
            Err(QueueFileError::Name(_))
        ));
        let repeated = format!("{}version=1\n", text.as_str());
        assert!(matches!(
            QueueState::parse(repeated.as_bytes()),
            Err(QueueFileError::Name(_))
        ));
        let missing: String = text
            .lines()
            .filter(|l| !l.starts_with("sender_id="))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            QueueState::parse(missing.as_bytes()).unwrap_err(),
            QueueFileError::Missing("sender_id")
        );
        assert_eq!(
            QueueState::parse(b"version=1\nserver=nope\n").unwrap_err(),
            QueueFileError::Value("server")
        );
        assert_eq!(
            QueueState::parse(&vec![b'#'; MAX_QUEUE_FILE + 1]).unwrap_err(),
            QueueFileError::TooLong
        );
    }
}
