//! Loss detection: a message is LOST when its send was acked (so it is durable) but some
//! member that had joined the room before the send never received its push. Senders keep
//! the acked ids per room, members keep the ids they received, and after the grace period
//! the two are compared. Every member joins before the first send, so every acked id is
//! owed to every member that joined.

use serde::{Deserialize, Serialize};

/// How many lost ids are listed in the result as examples.
const EXAMPLES: usize = 20;

/// What one member received, in arrival order.
#[derive(Debug, Clone, Default)]
pub struct MemberLog {
    /// Room index within the scenario.
    pub room: usize,
    /// Member index within the room.
    pub member: usize,
    /// Whether the member joined (members that never joined are owed nothing).
    pub joined: bool,
    /// `chat:message` ids in arrival order.
    pub received: Vec<i64>,
}

/// One lost message, for the report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LostExample {
    /// Room index.
    pub room: usize,
    /// Member index within the room.
    pub member: usize,
    /// The acked message id it never received.
    pub id: i64,
}

/// The loss audit's result.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LossReport {
    /// Acked messages across all rooms.
    pub acked: u64,
    /// Deliveries owed: acked messages × joined members of their room.
    pub expected_deliveries: u64,
    /// (member, message) pairs acked but not delivered.
    pub lost: u64,
    /// Members that missed at least one message.
    pub members_with_loss: u64,
    /// Pushes of an id the member had already received.
    pub duplicates: u64,
    /// Pushes whose id was below the previous one (PROTOCOL.md promises id order).
    pub out_of_order: u64,
    /// Up to 20 lost (room, member, id) triples.
    pub examples: Vec<LostExample>,
}

/// Ids in `acked` (sorted, unique) that are missing from `received_sorted` (sorted, unique).
pub fn missing(acked: &[i64], received_sorted: &[i64]) -> Vec<i64> {
    let mut out = Vec::new();
    let mut r = received_sorted.iter().peekable();
    for &id in acked {
        while r.next_if(|&&x| x < id).is_some() {}
        if r.next_if(|&&x| x == id).is_none() {
            out.push(id);
        }
    }
    out
}

/// Compares what each joined member received with the acked ids of its room.
/// `acked_by_room[room]` holds the ids acked to any sender of that room, in any order.
pub fn audit(mut acked_by_room: Vec<Vec<i64>>, members: &[MemberLog]) -> LossReport {
    let mut report = LossReport::default();
    for ids in &mut acked_by_room {
        ids.sort_unstable();
        ids.dedup();
        report.acked += ids.len() as u64;
    }
    for m in members.iter().filter(|m| m.joined) {
        let Some(acked) = acked_by_room.get(m.room) else {
            continue;
        };
        report.expected_deliveries += acked.len() as u64;
        report.out_of_order += m.received.windows(2).filter(|w| w[1] < w[0]).count() as u64;
        let mut got = m.received.clone();
        got.sort_unstable();
        let before = got.len();
        got.dedup();
        report.duplicates += (before - got.len()) as u64;
        let lost = missing(acked, &got);
        if !lost.is_empty() {
            report.members_with_loss += 1;
            report.lost += lost.len() as u64;
            for id in lost {
                if report.examples.len() < EXAMPLES {
                    report.examples.push(LostExample {
                        room: m.room,
                        member: m.member,
                        id,
                    });
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(room: usize, member: usize, received: &[i64]) -> MemberLog {
        MemberLog {
            room,
            member,
            joined: true,
            received: received.to_vec(),
        }
    }

    #[test]
    fn missing_finds_gaps() {
        assert_eq!(missing(&[1, 2, 3, 5], &[1, 3, 4, 5]), vec![2]);
        assert_eq!(missing(&[1, 2], &[]), vec![1, 2]);
        assert!(missing(&[], &[1]).is_empty());
        assert!(missing(&[2, 9], &[1, 2, 3, 9, 10]).is_empty());
    }

    #[test]
    fn complete_delivery_is_no_loss_even_with_unacked_extras() {
        // id 4 was pushed but its ack never arrived (in flight at the end): not owed.
        let members = [member(0, 0, &[1, 2, 4]), member(0, 1, &[1, 2])];
        let r = audit(vec![vec![2, 1]], &members);
        assert_eq!(r.lost, 0);
        assert_eq!(r.acked, 2);
        assert_eq!(r.expected_deliveries, 4);
        assert!(r.examples.is_empty());
    }

    #[test]
    fn counts_lost_per_member_and_keeps_examples() {
        let members = [
            member(0, 0, &[10, 11, 12]),
            member(0, 1, &[10, 12]),
            member(1, 0, &[]),
            MemberLog {
                room: 1,
                member: 1,
                joined: false,
                received: vec![],
            },
        ];
        let r = audit(vec![vec![10, 11, 12], vec![20]], &members);
        assert_eq!(r.lost, 2);
        assert_eq!(r.members_with_loss, 2);
        assert_eq!(r.expected_deliveries, 7);
        assert_eq!(
            r.examples,
            vec![
                LostExample {
                    room: 0,
                    member: 1,
                    id: 11
                },
                LostExample {
                    room: 1,
                    member: 0,
                    id: 20
                },
            ]
        );
    }

    #[test]
    fn flags_duplicates_and_reordering() {
        let r = audit(vec![vec![1, 2, 3]], &[member(0, 0, &[1, 3, 2, 3])]);
        assert_eq!(r.lost, 0);
        assert_eq!(r.duplicates, 1);
        assert_eq!(r.out_of_order, 1);
    }
}
