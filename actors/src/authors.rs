//! Who wrote a message and who owns a room (PROTOCOL.md, "Version 2: authors and room
//! owners").
//!
//! - An **author key** is a secret a client keeps (16..128 characters) and sends on
//!   `room:join`; the messages of that session carry its **author id**, an HMAC-SHA256 of
//!   the key under a secret the nodes share through the store (`node_secrets.author_id`,
//!   made by a migration). The same key gives the same id in every room and on every node;
//!   the key cannot be recovered from the id, and is never stored or logged.
//! - An **owner key** is made for each new room and shown only in the answer to its
//!   creation; the store keeps its SHA-256. A session that joins with it owns the room.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{ChatError, ErrorCode};

/// Shortest author key.
pub const AUTHOR_KEY_MIN: usize = 16;
/// Longest author key (and owner key a client may send).
pub const AUTHOR_KEY_MAX: usize = 128;
/// Length of a new owner key (URL-safe characters: about 190 bits).
const OWNER_KEY_LEN: usize = 32;
/// Bytes of the HMAC kept in an author id (hex: 24 characters, 96 bits).
const AUTHOR_ID_BYTES: usize = 12;

/// A client's author key, checked.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorKey(String);

impl std::fmt::Debug for AuthorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthorKey(..)")
    }
}

/// Checks a secret a client sends (`authorKey`, `ownerKey`): its length in characters and
/// no control characters.
fn secret_text(input: &str, name: &str, min: usize) -> Result<String, ChatError> {
    let chars = input.chars().count();
    if chars < min || chars > AUTHOR_KEY_MAX {
        return Err(ChatError::bad_request(format!(
            "{name} must be {min} to {AUTHOR_KEY_MAX} characters"
        )));
    }
    if input.chars().any(char::is_control) {
        return Err(ChatError::bad_request(format!(
            "{name} contains control characters"
        )));
    }
    Ok(input.to_owned())
}

impl AuthorKey {
    /// Validates an `authorKey`.
    pub fn parse(input: &str) -> Result<AuthorKey, ChatError> {
        secret_text(input, "authorKey", AUTHOR_KEY_MIN).map(AuthorKey)
    }
}

/// An owner key as a client sent it, checked for shape only.
#[derive(Clone, PartialEq, Eq)]
pub struct OwnerKey(String);

impl std::fmt::Debug for OwnerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OwnerKey(..)")
    }
}

impl OwnerKey {
    /// Validates an `ownerKey` a client sends.
    pub fn parse(input: &str) -> Result<OwnerKey, ChatError> {
        secret_text(input, "ownerKey", 1).map(OwnerKey)
    }

    /// A new room's key, and the hash the store keeps.
    pub fn generate() -> (String, String) {
        let key = nanoid::nanoid!(OWNER_KEY_LEN);
        let hash = owner_key_hash(&key);
        (key, hash)
    }

    /// Whether this is the key of the room whose owner key hashes to `stored`.
    pub fn opens(&self, stored: Option<&str>) -> bool {
        stored.is_some_and(|stored| {
            owner_key_hash(&self.0)
                .as_bytes()
                .ct_eq(stored.as_bytes())
                .into()
        })
    }
}

/// The SHA-256 of an owner key, in hex, as the store keeps it.
fn owner_key_hash(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Turns author keys into author ids under the nodes' shared secret.
#[derive(Clone)]
pub struct AuthorIds {
    secret: Vec<u8>,
}

impl std::fmt::Debug for AuthorIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthorIds(..)")
    }
}

impl AuthorIds {
    /// Ids under `secret` (the store's `author_id` secret).
    pub fn new(secret: &str) -> AuthorIds {
        AuthorIds {
            secret: secret.as_bytes().to_vec(),
        }
    }

    /// The public id of `key`.
    pub fn id_of(&self, key: &AuthorKey) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) else {
            // HMAC takes keys of any length; this cannot happen.
            return String::new();
        };
        mac.update(key.0.as_bytes());
        hex(&mac.finalize().into_bytes()[..AUTHOR_ID_BYTES])
    }
}

/// `forbidden` for a wrong owner key.
pub fn not_the_owner_key() -> ChatError {
    ChatError::new(ErrorCode::Forbidden, "that is not this room's owner key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_key_gives_the_same_id_and_others_do_not() {
        let ids = AuthorIds::new("shared-secret");
        let key = AuthorKey::parse("a-key-of-sixteen+").unwrap();
        let other = AuthorKey::parse("another-key-of-16").unwrap();
        let id = ids.id_of(&key);
        assert_eq!(id.len(), 24);
        assert_eq!(id, AuthorIds::new("shared-secret").id_of(&key));
        assert_ne!(id, ids.id_of(&other));
        assert_ne!(id, AuthorIds::new("another-secret").id_of(&key), "keyed");
        assert!(!format!("{key:?}{ids:?}").contains("sixteen"));
    }

    #[test]
    fn author_keys_have_bounds() {
        assert!(AuthorKey::parse("fifteen-chars-x").is_err());
        assert!(AuthorKey::parse(&"k".repeat(129)).is_err());
        assert!(AuthorKey::parse("sixteen-chars-xx\u{0}").is_err());
        assert!(
            AuthorKey::parse("ключ-из-шестнадцати").is_ok(),
            "characters, not bytes"
        );
    }

    #[test]
    fn an_owner_key_opens_only_its_room() {
        let (key, hash) = OwnerKey::generate();
        assert_eq!(key.len(), 32);
        let presented = OwnerKey::parse(&key).unwrap();
        assert!(presented.opens(Some(&hash)));
        assert!(!presented.opens(Some(&OwnerKey::generate().1)));
        assert!(!presented.opens(None), "a room from before owners has none");
    }
}
