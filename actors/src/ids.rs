//! Identifiers and validated values: parsed once at the edge, trusted everywhere inside.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use unicode_properties::{GeneralCategory, UnicodeEmoji, UnicodeGeneralCategory};

use crate::error::ChatError;

/// The alphabet of room codes: upper-case letters and digits without the look-alikes
/// `0 O 1 I L`, so a code read aloud or off a screen is typed back correctly.
pub const ROOM_CODE_ALPHABET: [char; 31] = [
    'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'J', 'K', 'M', 'N', 'P', 'Q', 'R', 'S', 'T', 'U', 'V',
    'W', 'X', 'Y', 'Z', '2', '3', '4', '5', '6', '7', '8', '9',
];

/// Length of a room code.
pub const ROOM_CODE_LEN: usize = 6;

/// A room's shareable code: six characters of [`ROOM_CODE_ALPHABET`], stored upper-case.
///
/// Stored inline (no heap) because codes are copied into every message and map key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomCode([u8; ROOM_CODE_LEN]);

impl RoomCode {
    /// Parses a code case-insensitively. Anything that is not six characters of the
    /// alphabet is `not_found`: such a room cannot exist (PROTOCOL.md, precise rule 5).
    pub fn parse(input: &str) -> Result<RoomCode, ChatError> {
        let bytes = input.as_bytes();
        if bytes.len() != ROOM_CODE_LEN {
            return Err(ChatError::room_not_found());
        }
        let mut code = [0u8; ROOM_CODE_LEN];
        for (slot, &b) in code.iter_mut().zip(bytes) {
            let upper = b.to_ascii_uppercase();
            if !ROOM_CODE_ALPHABET.contains(&(upper as char)) {
                return Err(ChatError::room_not_found());
            }
            *slot = upper;
        }
        Ok(RoomCode(code))
    }

    /// A fresh random code from nanoid. Collisions are possible (31^6 ≈ 887 million codes)
    /// and are resolved by the store's unique index and a retry.
    pub fn random() -> RoomCode {
        let generated = nanoid::nanoid!(ROOM_CODE_LEN, &ROOM_CODE_ALPHABET);
        let mut code = [b'A'; ROOM_CODE_LEN];
        for (slot, ch) in code.iter_mut().zip(generated.chars()) {
            *slot = ch as u8;
        }
        RoomCode(code)
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // The bytes are always ASCII from the alphabet, so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Display for RoomCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RoomCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoomCode({})", self.as_str())
    }
}

impl Serialize for RoomCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RoomCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        RoomCode::parse(&text).map_err(|_| serde::de::Error::custom("not a room code"))
    }
}

/// A message id: unique across the deployment, increasing in commit order within a room.
pub type MessageId = i64;

/// A room's database id.
pub type RoomId = i64;

/// Identifies one WebSocket session on this node.
pub type SessionId = u64;

/// Trims `input` and checks its length in code points against `1..=max`.
fn trimmed_within<'a>(input: &'a str, max: usize, what: &str) -> Result<&'a str, ChatError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(ChatError::bad_request(format!("{what} is empty")));
    }
    if trimmed.chars().count() > max {
        return Err(ChatError::too_large(format!(
            "{what} is longer than {max} characters"
        )));
    }
    Ok(trimmed)
}

/// Zero width joiner: allowed in a nickname only inside an emoji sequence.
const ZWJ: char = '\u{200D}';

/// Whether `c`, not a control character (`Nickname::parse` refuses those first), may stand at
/// this place of a nickname, `before` being the character before it. Line and paragraph
/// separators and format characters (bidi overrides and isolates, zero-width spaces and
/// joiners, soft hyphens) are refused: they
/// make names that look like other names, or that reorder the text around them. Emoji
/// sequences keep their joiners and tags: a ZWJ right after an emoji, tag characters after
/// an emoji or another tag (subdivision flags).
fn allowed_in_nickname(c: char, before: Option<char>) -> bool {
    match c.general_category() {
        GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => false,
        GeneralCategory::Format => {
            let after_emoji = before.is_some_and(|b| b.is_emoji_char() || is_tag(b));
            (c == ZWJ || is_tag(c)) && after_emoji
        }
        _ => true,
    }
}

/// A Unicode tag character (U+E0020..U+E007F), as in subdivision flag sequences.
fn is_tag(c: char) -> bool {
    ('\u{E0020}'..='\u{E007F}').contains(&c)
}

/// A member's display name: trimmed, 1..=limit code points, no control or format
/// characters (see `allowed_in_nickname`).
/// Shared (`Arc`) because every message and presence entry of the member repeats it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Nickname(Arc<str>);

impl Nickname {
    /// Validates a nickname (or a REST `sender`) under the given length limit.
    pub fn parse(input: &str, max_chars: usize) -> Result<Nickname, ChatError> {
        Self::check(input, max_chars).map(|trimmed| Nickname(trimmed.into()))
    }

    /// The rules of [`Nickname::parse`] without keeping the name: answers it trimmed. For
    /// values checked in passing (events from other nodes), which need no copy.
    pub fn check(input: &str, max_chars: usize) -> Result<&str, ChatError> {
        let trimmed = trimmed_within(input, max_chars, "nickname")?;
        if trimmed.chars().any(char::is_control) {
            return Err(ChatError::bad_request(
                "nickname contains control characters",
            ));
        }
        let mut before = None;
        for c in trimmed.chars() {
            if !allowed_in_nickname(c, before) {
                return Err(ChatError::bad_request(format!(
                    "nickname contains an invisible or direction-changing character (U+{:04X})",
                    c as u32
                )));
            }
            before = Some(c);
        }
        Ok(trimmed)
    }

    /// The nickname as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A nickname validated elsewhere (another node wrote it to Redis).
    pub fn trusted(text: &str) -> Nickname {
        Nickname(text.into())
    }
}

impl fmt::Debug for Nickname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nickname({:?})", &*self.0)
    }
}

impl<'de> Deserialize<'de> for Nickname {
    /// Nicknames from other nodes were validated there; only their shape is checked here.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Nickname(text.as_ref().into()))
    }
}

impl Serialize for Nickname {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Message content: trimmed, 1..=limit code points. Newlines and tabs are kept (multi-line
/// messages are normal); every other control character is refused, U+0000 above all, which
/// PostgreSQL text cannot hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content(String);

impl Content {
    /// Validates content under the given length limit.
    pub fn parse(input: &str, max_chars: usize) -> Result<Content, ChatError> {
        Self::check(input, max_chars).map(|trimmed| Content(trimmed.to_owned()))
    }

    /// The rules of [`Content::parse`] without a copy: answers the content trimmed.
    pub fn check(input: &str, max_chars: usize) -> Result<&str, ChatError> {
        let trimmed = trimmed_within(input, max_chars, "content")?;
        if let Some(c) = trimmed
            .chars()
            .find(|&c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(ChatError::bad_request(format!(
                "content contains a control character (U+{:04X}); only newlines and tabs are allowed",
                c as u32
            )));
        }
        Ok(trimmed)
    }

    /// The content as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Gives the text up, for storing.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Most bytes of one reaction's emoji (PROTOCOL.md v2): the longest emoji sequences
/// (families, flags of subdivisions) fit.
pub const EMOJI_MAX_BYTES: usize = 32;

/// One emoji, as a reaction names it: exactly one grapheme that is an emoji of the Unicode
/// emoji list (with skin tones and the other sequences it names), at most
/// [`EMOJI_MAX_BYTES`]. Anything else would let a reaction carry text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Emoji(String);

impl Emoji {
    /// Validates a reaction's emoji.
    pub fn parse(input: &str) -> Result<Emoji, ChatError> {
        use unicode_segmentation::UnicodeSegmentation;
        let refuse = || ChatError::bad_request("emoji must be one emoji");
        if input.is_empty() || input.len() > EMOJI_MAX_BYTES {
            return Err(refuse());
        }
        if input.graphemes(true).nth(1).is_some() || emojis::get(input).is_none() {
            return Err(refuse());
        }
        Ok(Emoji(input.to_owned()))
    }

    /// The emoji as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Maximum length of a `clientId`, in code points.
pub const CLIENT_ID_MAX: usize = 64;

/// A client-chosen idempotency key for a send, unique per room.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    /// Validates a client id: 1..=64 code points, no control characters.
    pub fn parse(input: &str) -> Result<ClientId, ChatError> {
        if input.is_empty() {
            return Err(ChatError::bad_request("clientId is empty"));
        }
        if input.chars().any(char::is_control) {
            return Err(ChatError::bad_request(
                "clientId contains control characters",
            ));
        }
        if input.chars().count() > CLIENT_ID_MAX {
            return Err(ChatError::too_large(format!(
                "clientId is longer than {CLIENT_ID_MAX} characters"
            )));
        }
        Ok(ClientId(input.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn content_keeps_newlines_and_tabs_and_refuses_other_controls() {
        assert_eq!(Content::parse("a\n\tb", 10).unwrap().as_str(), "a\n\tb");
        for bad in [
            "a\u{0}b",
            "a\rb",
            "a\u{7}",
            "a\u{1b}[31m",
            "a\u{85}b",
            "a\u{7f}",
        ] {
            let error = Content::parse(bad, 10).unwrap_err();
            assert_eq!(error.code, ErrorCode::BadRequest, "{bad:?}");
        }
        // Direction marks are legitimate in right-to-left text; the client isolates them.
        assert!(Content::parse("\u{202E}abc", 10).is_ok());
    }

    #[test]
    fn nicknames_refuse_invisible_and_direction_changing_characters() {
        for bad in [
            "ad\u{0}a",
            "ad\u{202E}a",
            "\u{2066}ada",
            "a\u{200B}da",
            "a\u{200D}da",
            "a\u{00AD}da",
            "ada\u{FEFF}x",
            "a\u{2028}b",
            "a\u{E0041}",
        ] {
            let error = Nickname::parse(bad, 32).unwrap_err();
            assert_eq!(error.code, ErrorCode::BadRequest, "{bad:?}");
        }
        // Emoji sequences keep their joiners and tags; other scripts are welcome.
        for good in [
            "👩\u{200D}💻 ada",
            "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
            "Zoë",
            "محمد",
            "李",
            "❤\u{FE0F}",
        ] {
            assert!(Nickname::parse(good, 32).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn client_ids_refuse_control_characters() {
        assert!(ClientId::parse("c-1").is_ok());
        assert_eq!(
            ClientId::parse("c\u{0}1").unwrap_err().code,
            ErrorCode::BadRequest
        );
    }

    #[test]
    fn room_codes_are_case_insensitive_and_upper_cased() {
        let code = RoomCode::parse("k7qx2m").unwrap();
        assert_eq!(code.as_str(), "K7QX2M");
        assert_eq!(code, RoomCode::parse("K7QX2M").unwrap());
    }

    #[test]
    fn odd_room_codes_are_not_found() {
        for bad in ["", "K7QX2", "K7QX2MM", "K7QX2!", "K7QX20", "ÄÄÄ", "K7QX2O"] {
            let err = RoomCode::parse(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::NotFound, "{bad:?}");
        }
    }

    #[test]
    fn random_codes_parse_back() {
        for _ in 0..1000 {
            let code = RoomCode::random();
            assert_eq!(RoomCode::parse(code.as_str()).unwrap(), code);
        }
    }

    #[test]
    fn nicknames_are_trimmed_and_counted_in_code_points() {
        assert_eq!(Nickname::parse("  ada ", 32).unwrap().as_str(), "ada");
        assert!(Nickname::parse(&"é".repeat(32), 32).is_ok());
        assert_eq!(
            Nickname::parse(&"é".repeat(33), 32).unwrap_err().code,
            ErrorCode::TooLarge
        );
        assert_eq!(
            Nickname::parse("   ", 32).unwrap_err().code,
            ErrorCode::BadRequest
        );
        assert_eq!(
            Nickname::parse("a\u{7}b", 32).unwrap_err().code,
            ErrorCode::BadRequest
        );
    }

    #[test]
    fn content_keeps_inner_newlines() {
        let content = Content::parse("\n line one\nline two \n", 2000).unwrap();
        assert_eq!(content.as_str(), "line one\nline two");
        assert_eq!(
            Content::parse(&"x".repeat(2001), 2000).unwrap_err().code,
            ErrorCode::TooLarge
        );
    }

    #[test]
    fn client_ids_are_limited() {
        assert!(ClientId::parse(&"c".repeat(64)).is_ok());
        assert_eq!(
            ClientId::parse(&"c".repeat(65)).unwrap_err().code,
            ErrorCode::TooLarge
        );
    }

    #[test]
    fn an_emoji_is_one_emoji_and_nothing_else() {
        for good in ["👍", "❤️", "👍🏽", "👩‍💻", "🇫🇷", "1️⃣", "🏳️‍🌈", "👨‍👩‍👧‍👦"]
        {
            assert_eq!(Emoji::parse(good).unwrap().as_str(), good, "{good:?}");
        }
        for bad in [
            "", "a", "👍👍", "👍 ", " 👍", "ok", "<b>", "\u{0}", "👍a", "🇫",
        ] {
            let error = Emoji::parse(bad).unwrap_err();
            assert_eq!(error.code, ErrorCode::BadRequest, "{bad:?}");
        }
        assert!(Emoji::parse(&"👍".repeat(9)).is_err(), "over 32 bytes");
    }
}
