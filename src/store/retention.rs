//! What both stores' retention code shares (`Store::touch_rooms`,
//! `Store::sweep_unused_rooms`), so that they cannot disagree on it.

use std::collections::HashSet;

use chat_actors::ids::RoomId;

/// The rooms of `asked` that a touch did not reach (`touched` are those it updated): they
/// are deleted or tombstoned, and their live actors must stop. Each once, in `asked` order.
pub(crate) fn gone(asked: &[RoomId], touched: &[RoomId]) -> Vec<RoomId> {
    let touched: HashSet<RoomId> = touched.iter().copied().collect();
    let mut seen = HashSet::new();
    asked
        .iter()
        .copied()
        .filter(|id| !touched.contains(id) && seen.insert(*id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::gone;

    #[test]
    fn gone_rooms_are_the_asked_ones_not_touched() {
        assert_eq!(gone(&[3, 1, 2], &[1, 2, 3]), Vec::<i64>::new());
        assert_eq!(gone(&[3, 1, 2], &[2]), vec![3, 1]);
        assert_eq!(gone(&[5, 5, 4], &[]), vec![5, 4]);
        assert_eq!(gone(&[], &[7]), Vec::<i64>::new());
    }
}
