//! How an object key becomes an entry name.
//!
//! The rule, applied in order:
//! 1. the `source-dir` prefix is removed when the key starts with it;
//! 2. backslashes become `/` (Windows readers treat both as separators);
//! 3. the name is split on `/` and empty, `.` and `..` segments are dropped, so no
//!    name is absolute or climbs out of the extraction folder;
//! 4. control characters (U+0000–U+001F, U+007F) become `_`, and a drive-letter
//!    first segment such as `C:` becomes `C_`;
//! 5. folders (keys ending in `/`) keep a trailing `/`.
//!
//! A key whose name comes out empty is skipped and reported.

/// The entry name for `key`, or `None` when nothing of it is left.
pub fn entry_name(key: &str, source_dir: Option<&str>) -> Option<String> {
    let rel = match source_dir {
        Some(dir) if !dir.is_empty() && key.starts_with(dir) => &key[dir.len()..],
        _ => key,
    };
    let is_dir = rel.ends_with('/') || rel.ends_with('\\');
    let rel = rel.replace('\\', "/");
    let mut segments: Vec<String> = Vec::new();
    for seg in rel.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            continue;
        }
        let mut clean: String = seg
            .chars()
            .map(|c| {
                if c.is_control() && (c as u32) < 0x80 {
                    '_'
                } else {
                    c
                }
            })
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
