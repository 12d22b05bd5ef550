//! Integration keys (PROTOCOL.md, "Version 2: who may do what"): with keys configured,
//! posting through the REST API, listing the active rooms and reading the metrics need
//! `Authorization: Bearer <key>`; without any, those routes are open and the node says so
//! at start.
//!
//! Keys are held only as SHA-256 digests, and a presented key is hashed and compared with
//! every configured digest in constant time (`subtle`), so neither the comparison's timing
//! nor its length tells a guesser anything. Keys are never logged: [`ApiKeys`]' `Debug`
//! shows only how many there are, and the settings are hidden from `--help`.
//!
//! A key may carry a label (`label key`, as in `moderation-bot 3f9a…`), which the audit
//! log of operators' actions names instead of the key (`key 2` for an unlabelled one).

use std::fmt;
use std::path::Path;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use chat_actors::{ChatError, ErrorCode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::AppState;

/// The shortest key accepted: a shorter one could be guessed.
pub const KEY_MIN: usize = 16;
/// The longest key accepted.
pub const KEY_MAX: usize = 512;
/// The longest label of a key.
pub const LABEL_MAX: usize = 64;

/// Why the configured keys cannot be used; the node refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The keys file could not be read.
    #[error("cannot read the API keys file {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A label is empty, too long, or not of letters, digits and `._-@`.
    #[error(
        "the label of API key {position} is not usable (1..{LABEL_MAX} letters, digits or ._-@)"
    )]
    Label {
        /// Which key, counting from 1.
        position: usize,
    },
    /// A key is too short, too long, or holds characters a header cannot carry.
    #[error("API key {position} is not usable: {why} (keys are {KEY_MIN}..{KEY_MAX} visible ASCII characters)")]
    Invalid {
        /// Which key, counting from 1 (never the key itself).
        position: usize,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// The configured integration keys, as digests with their labels.
#[derive(Clone, Default)]
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
    labels: Vec<String>,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeys({} configured)", self.digests.len())
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl ApiKeys {
    /// Keys from a comma-separated list and from a file with one key per line (blank lines
    /// and lines starting with `#` are skipped), both optional; several keys let one be
    /// rotated without downtime. An entry `label key` labels its key.
    pub fn load(list: Option<&str>, file: Option<&Path>) -> Result<ApiKeys, KeysError> {
        let mut keys: Vec<String> = list
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| KeysError::File {
                path: path.display().to_string(),
                source,
            })?;
            keys.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty() && !line.starts_with('#'))
                    .map(str::to_owned),
            );
        }
        let mut digests = Vec::with_capacity(keys.len());
        let mut labels = Vec::with_capacity(keys.len());
        for (index, entry) in keys.iter().enumerate() {
            let position = index + 1;
            let (label, key) = match entry.split_once(char::is_whitespace) {
                Some((label, key)) => {
                    check_label(label).ok_or(KeysError::Label { position })?;
                    (label.to_owned(), key.trim())
                }
                None => (format!("key {position}"), entry.as_str()),
            };
            check_key(key).map_err(|why| KeysError::Invalid { position, why })?;
            digests.push(digest(key));
            labels.push(label);
        }
        Ok(ApiKeys { digests, labels })
    }

    /// Whether no key is configured (the routes are open).
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// How many keys are configured.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether `presented` is one of the keys. Every digest is compared, in constant time.
    pub fn accepts(&self, presented: &str) -> bool {
        self.identify(presented).is_some()
    }

    /// The label of the key `presented` is, if it is one. Every digest is compared and the
    /// match selected in constant time, so the time taken says nothing of which key matched.
    pub fn identify(&self, presented: &str) -> Option<&str> {
        use subtle::ConditionallySelectable;
        let presented = digest(presented);
        let mut found = subtle::Choice::from(0);
        let mut index = 0u64;
        for (i, key) in self.digests.iter().enumerate() {
            let matches = key.ct_eq(&presented);
            index = u64::conditional_select(&index, &(i as u64), matches);
            found |= matches;
        }
        bool::from(found)
            .then(|| self.labels.get(index as usize).map(String::as_str))
            .flatten()
    }

    /// Lets the request through when no key is configured or it carries one of the keys.
    pub fn check(&self, req: &HttpRequest) -> Result<(), ChatError> {
        if self.is_empty() {
            return Ok(());
        }
        self.require(req).map(drop)
    }

    /// Lets the request through only when it carries one of the keys, answering the key's
    /// label: for what no open node may allow anyone, such as acting as every room's owner.
    pub fn require(&self, req: &HttpRequest) -> Result<&str, ChatError> {
        if self.is_empty() {
            return Err(unauthorized(
                "this needs an API key, and this node has none configured (--api-keys)",
            ));
        }
        let presented = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            });
        match presented.map(|key| self.identify(key)) {
            Some(Some(label)) => Ok(label),
            Some(None) => Err(unauthorized("the API key is not valid")),
            None => Err(unauthorized(
                "this needs an API key: send Authorization: Bearer <key>",
            )),
        }
    }
}

fn unauthorized(message: &str) -> ChatError {
    ChatError::new(ErrorCode::Unauthorized, message)
}

fn check_label(label: &str) -> Option<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-@".contains(c);
    (!label.is_empty() && label.len() <= LABEL_MAX && label.chars().all(allowed)).then_some(())
}

fn check_key(key: &str) -> Result<(), &'static str> {
    if key.len() < KEY_MIN {
        return Err("too short");
    }
    if key.len() > KEY_MAX {
        return Err("too long");
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("it holds a space, a control or a non-ASCII character");
    }
    Ok(())
}

/// A handler argument that admits only requests with a valid key (when keys are
/// configured); others are answered 401 `unauthorized` before the handler runs.
pub struct Authorized;

impl FromRequest for Authorized {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let checked = match req.app_data::<web::Data<AppState>>() {
            Some(state) => state.keys.check(req).map(|()| Authorized),
            None => Err(ChatError::internal("the node's state is missing")),
        };
        std::future::ready(checked.map_err(ApiError))
    }
}

/// A handler argument that admits only requests with a valid key, also on a node without
/// keys (which then refuses them all): REST callers that act as every room's owner, and
/// operators. It carries the key's label, for the audit log.
pub struct Moderator {
    /// The label of the key the request came with.
    pub label: String,
}

impl FromRequest for Moderator {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let checked = match req.app_data::<web::Data<AppState>>() {
            Some(state) => state.keys.require(req).map(|label| Moderator {
                label: label.to_owned(),
            }),
            None => Err(ChatError::internal("the node's state is missing")),
        };
        std::future::ready(checked.map_err(ApiError))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const FIRST: &str = "first-key-0123456789";
    const SECOND: &str = "second-key-0123456789";

    #[test]
    fn every_configured_key_is_accepted_and_nothing_else() {
        let keys = ApiKeys::load(Some(&format!(" {FIRST} , {SECOND} ")), None).unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys.accepts(FIRST) && keys.accepts(SECOND));
        assert!(!keys.accepts("first-key-012345678"));
        assert!(!keys.accepts(""));
        assert!(!format!("{keys:?}").contains("key-0"), "{keys:?}");
    }

    #[test]
    fn a_keys_file_skips_comments_and_blank_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(
            &path,
            format!("# rotated 2026-12\n\n{FIRST}\n  {SECOND}  \n"),
        )
        .unwrap();
        let keys = ApiKeys::load(None, Some(&path)).unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys.accepts(SECOND));
    }

    #[test]
    fn weak_or_unsendable_keys_refuse_to_start_without_showing_the_key() {
        for bad in ["abc", "has a space in it 123", "émoji-or-accent-123456"] {
            let error = ApiKeys::load(Some(&format!("{FIRST},{bad}")), None).unwrap_err();
            let text = error.to_string();
            assert!(text.contains("API key 2"), "{text}");
            assert!(!text.contains(bad), "{text}");
        }
        assert!(ApiKeys::load(None, Some(Path::new("/nonexistent/keys"))).is_err());
    }

    #[test]
    fn labels_name_their_keys_and_unlabelled_keys_get_their_position() {
        let keys =
            ApiKeys::load(Some(&format!("{FIRST}, ops-team@example {SECOND}")), None).unwrap();
        assert_eq!(keys.identify(FIRST), Some("key 1"));
        assert_eq!(keys.identify(SECOND), Some("ops-team@example"));
        assert_eq!(keys.identify("ops-team@example"), None);
        assert!(!format!("{keys:?}").contains("ops-team"), "{keys:?}");
        let error = ApiKeys::load(Some(&format!("bad/label {SECOND}")), None).unwrap_err();
        assert!(matches!(error, KeysError::Label { position: 1 }), "{error}");
        assert!(!error.to_string().contains(SECOND));
    }

    #[test]
    fn no_keys_means_open() {
        assert!(ApiKeys::load(Some(" , "), None).unwrap().is_empty());
    }
}
