//! The mixed workload's operation kinds and their ratios (`--mix send=70,reply=10,...`).
//! Without `--mix` the scenarios send plain messages only, exactly as before, so figures
//! measured without it stay comparable with older ones.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use crate::rng::Rng;

/// One operation a member of the mixed workload performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    /// `chat:send` of a new message.
    Send,
    /// `chat:send` with `replyTo` an earlier message of the room.
    Reply,
    /// `chat:edit` of one of the member's own earlier messages.
    Edit,
    /// `reaction:add` to another member's message.
    React,
    /// `reaction:remove` of one of the member's own reactions.
    Unreact,
}

impl OpKind {
    /// Every kind, in report order (the index of a kind is its place here).
    pub const ALL: [OpKind; 5] = [
        OpKind::Send,
        OpKind::Reply,
        OpKind::Edit,
        OpKind::React,
        OpKind::Unreact,
    ];

    /// The name used in `--mix`, in error keys (`edit:forbidden`) and in the report.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Send => "send",
            OpKind::Reply => "reply",
            OpKind::Edit => "edit",
            OpKind::React => "react",
            OpKind::Unreact => "unreact",
        }
    }

    /// Position in [`OpKind::ALL`], for per-kind arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// True for the kinds that change an existing message (answered by a `chat:update`
    /// push rather than a `chat:message`).
    pub fn is_change(self) -> bool {
        matches!(self, OpKind::Edit | OpKind::React | OpKind::Unreact)
    }

    fn from_name(name: &str) -> Option<OpKind> {
        OpKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// The seed of a mixed run when none is given.
pub const DEFAULT_SEED: u64 = 1;

/// [`DEFAULT_SEED`], for serde's `default = ...` (workload files without `seed`).
pub fn default_seed() -> u64 {
    DEFAULT_SEED
}

/// Largest weight of one kind, so the total always fits and stays meaningful.
pub const MAX_WEIGHT: u32 = 1_000_000;

/// Why a `--mix` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MixError {
    /// A part without `=`, or an empty part.
    #[error("{0:?} is not KIND=WEIGHT (e.g. send=70,reply=10,edit=10,react=8,unreact=2)")]
    Malformed(String),
    /// A kind that is not one of send, reply, edit, react, unreact.
    #[error("unknown kind {0:?}: use send, reply, edit, react, unreact")]
    UnknownKind(String),
    /// The same kind twice.
    #[error("{0} is given twice")]
    Repeated(&'static str),
    /// A weight that is not a whole number up to [`MAX_WEIGHT`].
    #[error("the weight of {kind} must be a whole number 0..={MAX_WEIGHT}, not {value:?}")]
    BadWeight {
        /// The kind it was given for.
        kind: &'static str,
        /// The text given.
        value: String,
    },
    /// Every weight is zero.
    #[error("at least one weight must be above 0")]
    Zero,
}

/// Relative weights of the operation kinds: each operation is of kind K with probability
/// weight(K) / total. Weights are relative, so `send=7,edit=1` is the same mix as
/// `send=70,edit=10`; kinds left out have weight 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    weights: [u32; 5],
}

impl Mix {
    /// The weight of one kind.
    pub fn weight(&self, kind: OpKind) -> u32 {
        self.weights[kind.index()]
    }

    /// The sum of the weights (always above 0).
    pub fn total(&self) -> u32 {
        self.weights.iter().sum()
    }

    /// Draws the next kind: one number below the total from `rng`, mapped onto the kinds
    /// in [`OpKind::ALL`] order (send first), each taking a range as wide as its weight.
    pub fn draw(&self, rng: &mut Rng) -> OpKind {
        let mut r = rng.below(u64::from(self.total()));
        for kind in OpKind::ALL {
            let w = u64::from(self.weight(kind));
            if r < w {
                return kind;
            }
            r -= w;
        }
        OpKind::Send // unreachable: r < total; Send is the safe answer
    }
}

impl FromStr for Mix {
    type Err = MixError;

    fn from_str(s: &str) -> Result<Mix, MixError> {
        let mut weights = [0u32; 5];
        let mut given = [false; 5];
        for part in s.split(',').map(str::trim) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| MixError::Malformed(part.to_string()))?;
            let kind = OpKind::from_name(name.trim())
                .ok_or_else(|| MixError::UnknownKind(name.trim().to_string()))?;
            if given[kind.index()] {
                return Err(MixError::Repeated(kind.name()));
            }
            let weight = value
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|&w| w <= MAX_WEIGHT)
                .ok_or_else(|| MixError::BadWeight {
                    kind: kind.name(),
                    value: value.to_string(),
                })?;
            given[kind.index()] = true;
            weights[kind.index()] = weight;
        }
        if weights.iter().all(|&w| w == 0) {
            return Err(MixError::Zero);
        }
        Ok(Mix { weights })
    }
}

/// The canonical form: kinds with a weight above 0, in [`OpKind::ALL`] order
/// (`send=70,reply=10,edit=10,react=8,unreact=2`). Parsing it gives the same mix.
impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for kind in OpKind::ALL.into_iter().filter(|&k| self.weight(k) > 0) {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{}={}", kind.name(), self.weight(kind))?;
        }
        Ok(())
    }
}

/// In workload and result files a mix is the same string as on the command line.
impl Serialize for Mix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Mix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Mix, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_weights_and_prints_the_canonical_form() {
        let m: Mix = "send=70, reply=10,edit=10 ,react=8,unreact=2"
            .parse()
            .unwrap();
        assert_eq!(m.weight(OpKind::Send), 70);
        assert_eq!(m.weight(OpKind::Unreact), 2);
        assert_eq!(m.total(), 100);
        assert_eq!(m.to_string(), "send=70,reply=10,edit=10,react=8,unreact=2");
        // Order of the parts does not matter; left-out kinds are 0 and not printed.
        let m: Mix = "edit=1,send=3".parse().unwrap();
        assert_eq!(m.weight(OpKind::React), 0);
        assert_eq!(m.to_string(), "send=3,edit=1");
        assert_eq!(m.to_string().parse::<Mix>().unwrap(), m);
    }

    #[test]
    fn refuses_what_is_not_a_mix() {
        let err = |s: &str| s.parse::<Mix>().unwrap_err();
        assert_eq!(err("send"), MixError::Malformed("send".into()));
        assert_eq!(err(""), MixError::Malformed("".into()));
        assert_eq!(err("send=1,"), MixError::Malformed("".into()));
        assert_eq!(err("delete=1"), MixError::UnknownKind("delete".into()));
        assert_eq!(err("send=1,send=2"), MixError::Repeated("send"));
        assert!(matches!(err("send=-1"), MixError::BadWeight { .. }));
        assert!(matches!(err("send=1.5"), MixError::BadWeight { .. }));
        assert!(matches!(err("send=1000001"), MixError::BadWeight { .. }));
        assert_eq!(err("send=0,edit=0"), MixError::Zero);
    }

    #[test]
    fn round_trips_through_json_as_a_string() {
        let m: Mix = "send=9,react=1".parse().unwrap();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#""send=9,react=1""#);
        assert_eq!(serde_json::from_str::<Mix>(&json).unwrap(), m);
        assert!(serde_json::from_str::<Mix>(r#""send=x""#).is_err());
        assert!(serde_json::from_str::<Mix>("70").is_err());
    }

    #[test]
    fn draws_follow_the_weights_and_repeat_for_the_same_seed() {
        let m: Mix = "send=70,reply=10,edit=10,react=8,unreact=2"
            .parse()
            .unwrap();
        let draws = |seed| {
            let mut rng = Rng::new(seed);
            (0..20_000).map(|_| m.draw(&mut rng)).collect::<Vec<_>>()
        };
        let a = draws(5);
        assert_eq!(a, draws(5), "same seed, same sequence");
        assert_ne!(a, draws(6));
        for kind in OpKind::ALL {
            let share = a.iter().filter(|&&k| k == kind).count() as f64 / a.len() as f64;
            let want = f64::from(m.weight(kind)) / 100.0;
            assert!((share - want).abs() < 0.01, "{kind:?}: {share} vs {want}");
        }
        // A kind of weight 0 is never drawn.
        let only: Mix = "edit=1".parse().unwrap();
        let mut rng = Rng::new(1);
        assert!((0..1000).all(|_| only.draw(&mut rng) == OpKind::Edit));
    }
}
