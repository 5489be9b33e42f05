//! The names given out while a plan is made, kept as where each one is (an entry's name in
//! the plan, or one of the few no entry holds: the archive's folders) and hashed by the
//! name, so a plan of a million entries does not copy every name once more to find
//! duplicates. The listing's keys met are kept the same way (`pack/listing.rs`).

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use super::PlannedEntry;

#[derive(Default)]
pub(crate) struct TakenNames {
    table: HashTable<Slot>,
    /// Names no entry holds.
    others: Vec<String>,
    hasher: RandomState,
}

#[derive(Clone, Copy)]
enum Slot {
    Entry(usize),
    Other(usize),
}

impl TakenNames {
    pub(crate) fn contains(&self, entries: &[PlannedEntry], name: &str) -> bool {
        let hash = self.hasher.hash_one(name);
        self.table
            .find(hash, |&s| name_of(entries, &self.others, s) == name)
            .is_some()
    }

    /// Takes `name` for no entry; false (and nothing recorded) if it was taken.
    pub(crate) fn take_other(&mut self, entries: &[PlannedEntry], name: &str) -> bool {
        if self.contains(entries, name) {
            return false;
        }
        self.others.push(name.to_string());
        self.record(entries, Slot::Other(self.others.len() - 1));
        true
    }

    /// Records the name of `entries[index]`, which must not be taken.
    pub(crate) fn take_entry(&mut self, entries: &[PlannedEntry], index: usize) {
        debug_assert!(!self.contains(entries, entries[index].name()));
        self.record(entries, Slot::Entry(index));
    }

    fn record(&mut self, entries: &[PlannedEntry], slot: Slot) {
        let (table, others, hasher) = (&mut self.table, &self.others, &self.hasher);
        let hash = hasher.hash_one(name_of(entries, others, slot));
        table.insert_unique(hash, slot, |&s| {
            hasher.hash_one(name_of(entries, others, s))
        });
    }
}

fn name_of<'a>(entries: &'a [PlannedEntry], others: &'a [String], slot: Slot) -> &'a str {
    match slot {
        Slot::Entry(i) => entries[i].name(),
        Slot::Other(i) => &others[i],
    }
}
