//! The final-state check of the mixed workload: after the run, `GET /api/messages` of every
//! room must show what the acks imply. For every message the load test sent and got acked
//! (down to the oldest one that was changed):
//!
//! - its `seq` is the highest `seq` of the acks of its send and its changes;
//! - its reactions are, per emoji, the acked adds minus the acked removes (every add was of
//!   an emoji its author had not put there, every remove of one it had), listed most
//!   counted first, ties by emoji in code point order, and none with count 0;
//! - an edited message holds the content of its edit with the highest `seq`, and has an
//!   `editedAt`; an unedited one has none; none is deleted.
//!
//! A message targeted by an operation that was refused or never answered is left out
//! (counted as unverified): whether that operation took effect is unknown.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::changes::RoomOp;
use crate::error::LoadError;
use crate::mix::OpKind;
use crate::ops::EMOJIS;
use crate::target::NodeUrl;

/// Messages per history page requested (the node's default maximum).
const PAGE: usize = 200;
/// Most pages read per room, whatever the node answers.
const MAX_PAGES: usize = 10_000;
/// How many mismatches are described in the result.
const EXAMPLES: usize = 20;

/// The history check's result.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct HistoryReport {
    /// Messages whose final state was compared.
    pub checked: u64,
    /// Messages whose state differs from what the acks imply (violations).
    pub mismatches: u64,
    /// Messages left out because an operation on them was refused or unanswered.
    pub unverified: u64,
    /// Up to 20 mismatches, described.
    pub examples: Vec<String>,
}

/// A reaction count as history shows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Reaction {
    /// The emoji.
    pub emoji: String,
    /// Authors that reacted with it.
    pub count: i64,
}

/// A message as `GET /api/messages` returns it (the fields the check reads).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryMessage {
    /// Message id.
    pub id: i64,
    /// Current content.
    pub content: String,
    /// Change-stream position of this state.
    #[serde(default)]
    pub seq: u64,
    /// Time of the last edit.
    #[serde(default)]
    pub edited_at: Option<String>,
    /// Deleted placeholder.
    #[serde(default)]
    pub deleted: bool,
    /// Reaction counts.
    #[serde(default)]
    pub reactions: Vec<Reaction>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    messages: Vec<HistoryMessage>,
    #[serde(default)]
    next_before_id: Option<i64>,
}

/// What one message should look like at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// Highest acked `seq` of the message.
    pub seq: u64,
    /// Content of the edit with the highest `seq`, if it was edited.
    pub content: Option<Box<str>>,
    edit_seq: u64,
    /// Emoji → acked adds minus acked removes.
    pub reactions: BTreeMap<&'static str, i64>,
    /// Whether a change was acked for it.
    pub changed: bool,
}

/// The expected final states of a room's acked messages, from its acked operations; ids in
/// `tainted` (targets of refused or unanswered operations) are left out. Returns the states
/// and how many acked messages were left out.
pub fn expected(ops: &[RoomOp], tainted: &HashSet<i64>) -> (BTreeMap<i64, Expected>, u64) {
    let mut out: BTreeMap<i64, Expected> = BTreeMap::new();
    for RoomOp { record: r, .. } in ops {
        let e = out.entry(r.id).or_default();
        e.seq = e.seq.max(r.seq);
        let emoji = r.emoji.and_then(|i| EMOJIS.get(usize::from(i)).copied());
        match (r.kind, emoji) {
            (OpKind::Edit, _) if r.seq > e.edit_seq => {
                e.edit_seq = r.seq;
                e.content = r.content.clone();
            }
            (OpKind::React, Some(emoji)) => *e.reactions.entry(emoji).or_default() += 1,
            (OpKind::Unreact, Some(emoji)) => *e.reactions.entry(emoji).or_default() -= 1,
            _ => {}
        }
        e.changed |= r.kind.is_change();
    }
    let before = out.len();
    out.retain(|id, _| !tainted.contains(id));
    let left_out = (before - out.len()) as u64;
    (out, left_out)
}

/// The oldest message that must be read from history: the oldest one with a change (older
/// unchanged ones need no page of their own).
pub fn oldest_needed(expected: &BTreeMap<i64, Expected>) -> Option<i64> {
    expected.iter().find(|(_, e)| e.changed).map(|(&id, _)| id)
}

/// Compares the expected states with history (any order, pages may overlap). Messages
/// older than the oldest one read are not compared.
pub fn compare(expected: &BTreeMap<i64, Expected>, history: &[HistoryMessage]) -> HistoryReport {
    let mut report = HistoryReport::default();
    let by_id: HashMap<i64, &HistoryMessage> = history.iter().map(|m| (m.id, m)).collect();
    let Some(lowest) = history.iter().map(|m| m.id).min() else {
        return report;
    };
    for (&id, want) in expected.range(lowest..) {
        report.checked += 1;
        let problem = match by_id.get(&id) {
            None => Some("missing from history".to_string()),
            Some(got) => differs(want, got),
        };
        if let Some(problem) = problem {
            report.mismatches += 1;
            if report.examples.len() < EXAMPLES {
                report.examples.push(format!("message {id}: {problem}"));
            }
        }
    }
    report
}

/// The first way `got` differs from `want`, if any.
fn differs(want: &Expected, got: &HistoryMessage) -> Option<String> {
    if got.deleted {
        return Some("deleted".into());
    }
    if got.seq != want.seq {
        return Some(format!(
            "seq {} where the acks end at {}",
            got.seq, want.seq
        ));
    }
    match (&want.content, &got.edited_at) {
        (Some(c), Some(_)) if c.as_ref() != got.content.as_str() => {
            return Some(format!(
                "content {:?}, last acked edit {:?}",
                got.content, c
            ));
        }
        (Some(_), None) => return Some("edited, but editedAt is null".into()),
        (None, Some(at)) => return Some(format!("never edited, but editedAt {at}")),
        _ => {}
    }
    let want_reactions: BTreeMap<&str, i64> = want
        .reactions
        .iter()
        .filter(|(_, &n)| n != 0)
        .map(|(&e, &n)| (e, n))
        .collect();
    let got_reactions: BTreeMap<&str, i64> = got
        .reactions
        .iter()
        .map(|r| (r.emoji.as_str(), r.count))
        .collect();
    if want_reactions != got_reactions || got_reactions.len() != got.reactions.len() {
        return Some(format!(
            "reactions {got_reactions:?}, acks imply {want_reactions:?}"
        ));
    }
    let ordered = got
        .reactions
        .windows(2)
        .all(|w| w[0].count > w[1].count || (w[0].count == w[1].count && w[0].emoji < w[1].emoji));
    if !ordered {
        return Some(format!(
            "reactions not most counted first: {:?}",
            got.reactions
        ));
    }
    None
}

/// Reads `code`'s history, newest first, until a page reaches `lowest` or the room's first
/// message.
pub async fn fetch(
    http: &reqwest::Client,
    node: &NodeUrl,
    code: &str,
    lowest: i64,
) -> Result<Vec<HistoryMessage>, LoadError> {
    let mut out = Vec::new();
    let mut before: Option<i64> = None;
    let limit = PAGE.to_string();
    for _ in 0..MAX_PAGES {
        let mut req = http
            .get(format!("{}/api/messages", node.http))
            .query(&[("roomCode", code), ("limit", limit.as_str())]);
        if let Some(b) = before {
            req = req.query(&[("beforeId", b)]);
        }
        let resp = req.send().await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(LoadError::Http(format!(
                "GET {}/api/messages?roomCode={code} answered {status}",
                node.http
            )));
        }
        let page: Page = resp.json().await?;
        let reached = page.messages.iter().any(|m| m.id <= lowest);
        out.extend(page.messages);
        match page.next_before_id {
            Some(next) if !reached => before = Some(next),
            _ => return Ok(out),
        }
    }
    Err(LoadError::Http(format!(
        "history of {code}: more than {MAX_PAGES} pages"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::OpRecord;

    fn op(kind: OpKind, id: i64, seq: u64, emoji: Option<u8>, content: Option<&str>) -> RoomOp {
        RoomOp {
            member: 0,
            record: OpRecord {
                kind,
                id,
                seq,
                sent_nanos: 0,
                acked_nanos: 0,
                emoji,
                content: content.map(Into::into),
            },
        }
    }

    fn msg(
        id: i64,
        seq: u64,
        content: &str,
        edited: bool,
        reactions: &[(&str, i64)],
    ) -> HistoryMessage {
        HistoryMessage {
            id,
            content: content.into(),
            seq,
            edited_at: edited.then(|| "2026-12-02T10:00:00.000Z".to_string()),
            deleted: false,
            reactions: reactions
                .iter()
                .map(|&(e, count)| Reaction {
                    emoji: e.into(),
                    count,
                })
                .collect(),
        }
    }

    /// 10: sent (1), 👍 by two (2, 3), 🎉 added and removed (4, 5), edited twice (6, then 7
    /// acked first). 11: sent (8), never changed. 12: sent (9), an edit refused.
    fn ops() -> Vec<RoomOp> {
        vec![
            op(OpKind::Send, 10, 1, None, None),
            op(OpKind::React, 10, 2, Some(0), None),
            op(OpKind::React, 10, 3, Some(0), None),
            op(OpKind::React, 10, 4, Some(1), None),
            op(OpKind::Unreact, 10, 5, Some(1), None),
            op(OpKind::Edit, 10, 7, None, Some("second")),
            op(OpKind::Edit, 10, 6, None, Some("first")),
            op(OpKind::Send, 11, 8, None, None),
            op(OpKind::Send, 12, 9, None, None),
        ]
    }

    #[test]
    fn expected_states_follow_the_acks() {
        let tainted = HashSet::from([12, 99]);
        let (want, unverified) = expected(&ops(), &tainted);
        assert_eq!(
            unverified, 1,
            "12 left out; 99 was never a message of the room"
        );
        assert_eq!(want.keys().copied().collect::<Vec<_>>(), [10, 11]);
        let ten = &want[&10];
        assert_eq!(ten.seq, 7);
        assert_eq!(
            ten.content.as_deref(),
            Some("second"),
            "highest seq wins, not ack order"
        );
        assert_eq!(ten.reactions[EMOJIS[0]], 2);
        assert_eq!(ten.reactions[EMOJIS[1]], 0);
        assert!(ten.changed && !want[&11].changed);
        assert_eq!(oldest_needed(&want), Some(10));
    }

    #[test]
    fn matching_history_passes_and_each_difference_is_found() {
        let (want, _) = expected(&ops(), &HashSet::from([12]));
        let good = || {
            vec![
                msg(11, 8, "t=1;x", false, &[]),
                msg(10, 7, "second", true, &[("👍", 2)]),
            ]
        };
        let r = compare(&want, &good());
        assert_eq!((r.checked, r.mismatches), (2, 0), "{:?}", r.examples);

        let mut cases: Vec<(Vec<HistoryMessage>, &str)> = Vec::new();
        let mut h = good();
        h[1].seq = 6;
        cases.push((h, "seq 6"));
        let mut h = good();
        h[1].content = "first".into();
        cases.push((h, "content"));
        let mut h = good();
        h[1].edited_at = None;
        cases.push((h, "editedAt is null"));
        let mut h = good();
        h[0].edited_at = Some("x".into());
        cases.push((h, "never edited"));
        let mut h = good();
        h[1].reactions[0].count = 3;
        cases.push((h, "reactions"));
        let mut h = good();
        h[1].reactions.push(Reaction {
            emoji: "🎉".into(),
            count: 0,
        });
        cases.push((h, "reactions"));
        let mut h = good();
        h[1].deleted = true;
        cases.push((h, "deleted"));
        let h = vec![good()[0].clone(), msg(9, 1, "", false, &[])];
        cases.push((h, "missing"));
        for (history, what) in cases {
            let r = compare(&want, &history);
            assert_eq!(r.mismatches, 1, "{what}: {:?}", r.examples);
            assert!(r.examples[0].contains(what), "{what}: {:?}", r.examples);
        }
    }

    #[test]
    fn reaction_order_is_checked_and_older_messages_are_not_compared() {
        let ops = vec![
            op(OpKind::Send, 20, 1, None, None),
            op(OpKind::React, 20, 2, Some(0), None), // 👍
            op(OpKind::React, 20, 3, Some(1), None), // 🎉
        ];
        let (want, _) = expected(&ops, &HashSet::new());
        // Ties by code point: 🎉 (U+1F389) before 👍 (U+1F44D).
        let ok = [msg(20, 3, "t", false, &[("🎉", 1), ("👍", 1)])];
        assert_eq!(compare(&want, &ok).mismatches, 0);
        let swapped = [msg(20, 3, "t", false, &[("👍", 1), ("🎉", 1)])];
        let r = compare(&want, &swapped);
        assert_eq!(r.mismatches, 1);
        assert!(r.examples[0].contains("most counted first"));

        // History read down to 30 only: 20 is not compared, nothing is claimed about it.
        let r = compare(&want, &[msg(30, 9, "t", false, &[])]);
        assert_eq!(r.checked, 0);
        assert_eq!(compare(&want, &[]).checked, 0);
    }

    #[test]
    fn parses_a_history_page() {
        let page: Page = serde_json::from_str(
            r#"{"ok":true,"nextBeforeId":41,"messages":[{"id":42,"roomId":1,"roomCode":"ABCDEF","sender":"a",
            "content":"hi","createdAt":"x","clientId":null,"bot":false,"authorId":"ab","replyTo":null,
            "editedAt":null,"deleted":false,"reactions":[{"emoji":"👍","count":3}],"seq":17}]}"#,
        )
        .unwrap();
        assert_eq!(page.next_before_id, Some(41));
        assert_eq!(page.messages[0], msg(42, 17, "hi", false, &[("👍", 3)]));
    }
}
