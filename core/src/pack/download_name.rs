//! The file name a streamed archive is saved under, and the `Content-Disposition` carrying it.

use crate::store::uri::encode_component;

/// `dest-file`'s last segment if given, else the name of the one source folder, else
/// `archive`; always ending in `.zip`.
pub fn archive_file_name(dest_file: Option<&str>, source_dirs: &[String]) -> String {
    let last_segment = |path: &str| {
        path.trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let stem = match (dest_file, source_dirs) {
        (Some(dest), _) => last_segment(dest),
        (None, [one]) => last_segment(one),
        _ => String::new(),
    };
    let stem = stem.trim();
    let stem = if stem.is_empty() || stem == "." || stem == ".." {
        "archive"
    } else {
        stem
    };
    if stem.to_ascii_lowercase().ends_with(".zip") {
        stem.to_string()
    } else {
        format!("{stem}.zip")
    }
}

/// `attachment; filename="…"; filename*=UTF-8''…` (RFC 6266, RFC 8187): browsers take the
/// UTF-8 form; clients that only read `filename` get an ASCII stand-in, in which anything
/// outside printable ASCII, quotes and backslashes become `_`.
pub fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect();
    format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        encode_component(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(d: &[&str]) -> Vec<String> {
        d.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_come_from_the_destination_or_the_one_folder() {
        assert_eq!(archive_file_name(Some("out/all.zip"), &[]), "all.zip");
        assert_eq!(archive_file_name(Some("out/all"), &[]), "all.zip");
        assert_eq!(
            archive_file_name(None, &dirs(&["photos/2024/"])),
            "2024.zip"
        );
        assert_eq!(archive_file_name(None, &dirs(&["报告"])), "报告.zip");
        assert_eq!(archive_file_name(None, &dirs(&["a/", "b/"])), "archive.zip");
        assert_eq!(archive_file_name(None, &dirs(&[""])), "archive.zip");
        assert_eq!(archive_file_name(None, &dirs(&["../"])), "archive.zip");
        assert_eq!(archive_file_name(Some("x/"), &[]), "x.zip");
        assert_eq!(archive_file_name(Some("BACKUP.ZIP"), &[]), "BACKUP.ZIP");
    }

    #[test]
    fn the_header_has_an_ascii_name_and_the_exact_one() {
        assert_eq!(
            content_disposition("2024 年报.zip"),
            "attachment; filename=\"2024 __.zip\"; filename*=UTF-8''2024%20%E5%B9%B4%E6%8A%A5.zip"
        );
        assert_eq!(
            content_disposition("a\"b\\c.zip"),
            "attachment; filename=\"a_b_c.zip\"; filename*=UTF-8''a%22b%5Cc.zip"
        );
    }
}
