//! An entry's name kept as the tail of its object's key when it is one (nearly always:
//! the key less its `source-dir`), so a plan of a million entries does not hold every
//! name twice.

/// Where an entry's name is: [`EntryName::of`] its key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum EntryName {
    /// The key from this byte on.
    KeyTail(u32),
    Own(Box<str>),
}

impl EntryName {
    pub(crate) fn new(key: &str, name: String) -> EntryName {
        match key.len().checked_sub(name.len()) {
            Some(at) if key.ends_with(name.as_str()) => match u32::try_from(at) {
                Ok(at) => EntryName::KeyTail(at),
                Err(_) => EntryName::Own(name.into()),
            },
            _ => EntryName::Own(name.into()),
        }
    }

    /// The name, given the key it was made with.
    pub(crate) fn of<'a>(&'a self, key: &'a str) -> &'a str {
        match self {
            EntryName::KeyTail(at) => &key[*at as usize..],
            EntryName::Own(name) => name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::EntryName;

    #[test]
    fn a_tail_of_the_key_is_not_kept_twice() {
        let key = "photos/2026/猫.jpg";
        for name in ["2026/猫.jpg", "猫.jpg", key, ""] {
            let kept = EntryName::new(key, name.into());
            assert!(matches!(kept, EntryName::KeyTail(_)), "{name}");
            assert_eq!(kept.of(key), name);
        }
        // Renamed, cleaned or chosen by the request: kept whole.
        for name in ["2026/猫 (2).jpg", "x.jpg", "photos/2026/猫.jpg/"] {
            let kept = EntryName::new(key, name.into());
            assert!(matches!(kept, EntryName::Own(_)), "{name}");
            assert_eq!(kept.of(key), name);
        }
    }
}
