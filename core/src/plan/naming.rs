//! How an object key becomes an entry name.
//!
//! The rule, applied in order:
//! 1. the `source-dir` prefix is removed when the key starts with it;
//! 2. backslashes become `/` (Windows readers treat both as separators);
//! 3. the name is split on `/` and empty, `.` and `..` segments are dropped, so no
//!    name is absolute or climbs out of the extraction folder;
//! 4. control characters (U+0000–U+001F, U+007F–U+009F) and the marks that reorder
//!    text (U+061C, U+200E–U+200F, U+202A–U+202E, U+2066–U+2069: `invoice\u{202e}fdp.exe`
//!    shows as `invoiceexe.pdf`) become `_`, and a drive-letter first segment such as
//!    `C:` becomes `C_`;
//! 5. folders (keys ending in `/`) keep a trailing `/`.
//!
//! A key whose name comes out empty is skipped and reported.

/// The entry name for `key`, or `None` when nothing of it is left.
pub fn entry_name(key: &str, source_dir: Option<&str>) -> Option<String> {
    let rel = match source_dir {
        Some(dir) if !dir.is_empty() && key.starts_with(dir) => &key[dir.len()..],
        _ => key,
    };
    match already_a_name(rel) {
        true => Some(rel.to_string()),
        false => cleaned(rel),
    }
}

/// Whether the rule would leave `rel` as it is, told in one pass over its bytes: nearly
/// every key is such a name, and the plan names every key twice before the first read.
fn already_a_name(rel: &str) -> bool {
    let bytes = rel.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if bytes.is_empty() || drive {
        return false;
    }
    // Segments as `/` ends them; a trailing `/` (a folder) ends the last one.
    rel.strip_suffix('/').unwrap_or(rel).split('/').all(|seg| {
        !matches!(seg, "" | "." | "..")
            && seg.bytes().all(|b| b >= 0x20 && b != 0x7f && b != b'\\')
            && (seg.is_ascii() || !seg.chars().any(replaced))
    })
}

/// A character step 4 replaces.
fn replaced(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The rule applied step by step.
fn cleaned(rel: &str) -> Option<String> {
    let is_dir = rel.ends_with('/') || rel.ends_with('\\');
    let rel = rel.replace('\\', "/");
    let mut segments: Vec<String> = Vec::new();
    for seg in rel.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            continue;
        }
        let mut clean: String = seg
            .chars()
            .map(|c| if replaced(c) { '_' } else { c })
            .collect();
        if segments.is_empty() && is_drive_letter(&clean) {
            clean.replace_range(1..2, "_");
        }
        segments.push(clean);
    }
    if segments.is_empty() {
        return None;
    }
    let mut name = segments.join("/");
    if is_dir {
        name.push('/');
    }
    Some(name)
}

fn is_drive_letter(seg: &str) -> bool {
    let b = seg.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// `name` if it is free, else the first free `stem (N).ext` with N = 2, 3, …
/// Deterministic for a given order of names.
pub fn unique_name(name: &str, free: impl Fn(&str) -> bool) -> String {
    if free(name) {
        return name.to_string();
    }
    let (dir, file) = match name.rfind('/') {
        Some(i) => name.split_at(i + 1),
        None => ("", name),
    };
    let (stem, ext) = match file.rfind('.') {
        Some(i) if i > 0 => file.split_at(i),
        _ => (file, ""),
    };
    (2u64..)
        .map(|n| format!("{dir}{stem} ({n}){ext}"))
        .find(|candidate| free(candidate))
        .expect("an unbounded counter finds a free name")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The shortcut names exactly what the rule would: every key of up to five characters
    /// over the ones the rule treats specially, and two hundred thousand longer ones.
    #[test]
    fn a_name_left_as_it_is_is_what_the_rule_gives() {
        const CHARS: [char; 13] = [
            'a', 'C', '/', '.', '\\', ':', '\u{1}', '\u{7f}', '中', ' ', '\u{9b}', '\u{202e}',
            '\u{2069}',
        ];
        let check = |key: &str| {
            if already_a_name(key) {
                assert_eq!(cleaned(key).as_deref(), Some(key), "{key:?}");
            }
            assert_eq!(
                entry_name(key, None),
                cleaned(key),
                "{key:?} named differently by the shortcut"
            );
        };
        let mut keys = vec![String::new()];
        for _ in 0..5 {
            keys = keys
                .iter()
                .flat_map(|k| CHARS.iter().map(move |c| format!("{k}{c}")))
                .collect();
            keys.iter().for_each(|k| check(k));
        }
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200_000 {
            let key: String = (0..(x % 24))
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    CHARS[(x % CHARS.len() as u64) as usize]
                })
                .collect();
            check(&key);
        }
    }

    #[test]
    fn strips_the_source_dir() {
        assert_eq!(
            entry_name("files/a/b.txt", Some("files/")).as_deref(),
            Some("a/b.txt")
        );
        assert_eq!(
            entry_name("other/b.txt", Some("files/")).as_deref(),
            Some("other/b.txt")
        );
        assert_eq!(
            entry_name("files/sub/", Some("files/")).as_deref(),
            Some("sub/")
        );
        assert_eq!(entry_name("files/", Some("files/")), None);
    }

    #[test]
    fn nothing_escapes_the_extraction_folder() {
        assert_eq!(
            entry_name("/etc/passwd", None).as_deref(),
            Some("etc/passwd")
        );
        assert_eq!(entry_name("a/../../b", None).as_deref(), Some("a/b"));
        assert_eq!(
            entry_name("..\\..\\win.ini", None).as_deref(),
            Some("win.ini")
        );
        assert_eq!(entry_name("C:\\x.txt", None).as_deref(), Some("C_/x.txt"));
        assert_eq!(entry_name("a\u{0}b\n", None).as_deref(), Some("a_b_"));
        assert_eq!(entry_name("./../", None), None);
        // Names that would show as something else.
        assert_eq!(
            entry_name("invoice\u{202e}fdp.exe", None).as_deref(),
            Some("invoice_fdp.exe")
        );
        assert_eq!(entry_name("a\u{9b}31m", None).as_deref(), Some("a_31m"));
        assert_eq!(entry_name("שלום.txt", None).as_deref(), Some("שלום.txt"));
    }

    #[test]
    fn keeps_unicode_spaces_and_symbols() {
        assert_eq!(
            entry_name("d/中文 a+b%20.txt", Some("d/")).as_deref(),
            Some("中文 a+b%20.txt")
        );
        assert_eq!(entry_name("😀.png", None).as_deref(), Some("😀.png"));
    }

    #[test]
    fn duplicates_get_numbered_names() {
        let mut taken = HashSet::new();
        let mut unique = |name| {
            let got = unique_name(name, |n| !taken.contains(n));
            taken.insert(got.clone());
            got
        };
        assert_eq!(unique("a/report.txt"), "a/report.txt");
        assert_eq!(unique("a/report.txt"), "a/report (2).txt");
        assert_eq!(unique("a/report.txt"), "a/report (3).txt");
        assert_eq!(unique(".env"), ".env");
        assert_eq!(unique(".env"), ".env (2)");
    }
}
