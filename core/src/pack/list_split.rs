//! A folder's listing split into key ranges listed at once.
//!
//! One prefix's pages come one after another (each needs the last one's continuation
//! token), so a folder of a million keys is a thousand round trips in a row. The
//! subfolders one page listed with `delimiter=/` names are boundaries: the keys under the
//! prefix fall into ranges `(after, upto]` between them, each listed on its own
//! (`start-after`, then its own tokens, cut where it passes its end), and the ranges one
//! after the other are exactly the flat listing, whatever the boundaries. A sample naming
//! one subfolder only is taken again inside it (`photos/2024/` → its months); a folder
//! without subfolders is listed flat, from the sample on.
//!
//! Boundaries only balance the work, so a poor choice costs time, never correctness: a
//! thousand tiny subfolders still make at most `ranges` ranges.

use crate::store::ListPage;

/// How deep a sample follows folders that hold one subfolder only.
const MAX_DEPTH: u32 = 3;

/// A stretch of the keys under a prefix: those `> after` and `<= upto` (`None`: no bound).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Range {
    pub after: Option<String>,
    pub upto: Option<String>,
}

impl Range {
    /// Whether `key` is past the range's end.
    pub fn past(&self, key: &str) -> bool {
        self.upto.as_deref().is_some_and(|u| key > u)
    }
}

/// What a sample (one delimited page) says to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Sampled {
    /// The page is the folder's whole listing: one page, no subfolders.
    Whole,
    /// A folder without subfolders on its first page: list on, flat, after its last key
    /// (the page's objects are the keys up to it).
    Flat { after: String },
    /// Sample again inside this subfolder, `depth` deep; `all` if every key of the folder
    /// is under it (the samples above held no object).
    Descend {
        prefix: String,
        depth: u32,
        all: bool,
    },
    /// List these ranges, in order; together they are every key under the folder.
    Ranges(Vec<Range>),
}

/// What to do with the sample `page`, taken `depth` subfolders below the folder listed
/// (`all`: every key of the folder is under the prefix sampled), splitting it into at most
/// `ranges` ranges.
pub(crate) fn split(page: &ListPage, depth: u32, all: bool, ranges: usize) -> Sampled {
    let folders = &page.common_prefixes;
    let truncated = page.is_truncated;
    if (depth == 0 || all) && folders.is_empty() {
        return match page.objects.last() {
            Some(last) if truncated => Sampled::Flat {
                after: last.key.clone(),
            },
            _ if truncated => Sampled::Ranges(vec![Range::default()]),
            _ => Sampled::Whole,
        };
    }
    if folders.len() == 1 && !truncated && depth < MAX_DEPTH {
        return Sampled::Descend {
            prefix: folders[0].clone(),
            depth: depth + 1,
            all: (depth == 0 || all) && page.objects.is_empty(),
        };
    }
    // Boundaries among the subfolders after the first (the first range holds the keys
    // before it and the first subfolder), evenly spread.
    let candidates = folders.get(1..).unwrap_or_default();
    let wanted = ranges.saturating_sub(1).min(candidates.len());
    let mut bounds: Vec<&String> = (0..wanted)
        .map(|i| &candidates[i * candidates.len() / wanted])
        .collect();
    bounds.dedup();
    let mut out = Vec::with_capacity(bounds.len() + 1);
    let mut after = None;
    for b in bounds {
        out.push(Range {
            after: after.take(),
            upto: Some(b.clone()),
        });
        after = Some(b.clone());
    }
    out.push(Range { after, upto: None });
    Sampled::Ranges(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_page;

    fn page(keys: &[&str], folders: &[&str], truncated: bool) -> ListPage {
        let mut p = test_page(keys, folders);
        p.is_truncated = truncated;
        p.next_continuation_token = truncated.then(|| "t".into());
        p
    }

    fn bounds(s: Sampled) -> Vec<(Option<String>, Option<String>)> {
        match s {
            Sampled::Ranges(r) => r.into_iter().map(|r| (r.after, r.upto)).collect(),
            other => panic!("{other:?}"),
        }
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn a_folder_without_subfolders_is_whole_or_listed_on_flat() {
        assert_eq!(
            split(&page(&["d/a", "d/b"], &[], false), 0, true, 16),
            Sampled::Whole
        );
        assert_eq!(
            split(&page(&["d/a", "d/b"], &[], true), 0, true, 16),
            Sampled::Flat {
                after: "d/b".into()
            }
        );
        // Inside a subfolder the page is the folder's listing only if the folder held
        // nothing else; otherwise one range of it all.
        assert_eq!(
            split(&page(&["d/x/a"], &[], true), 1, true, 16),
            Sampled::Flat {
                after: "d/x/a".into()
            }
        );
        assert_eq!(
            bounds(split(&page(&["d/x/a"], &[], false), 1, false, 16)),
            [(None, None)]
        );
    }

    #[test]
    fn one_subfolder_is_sampled_again_inside() {
        assert_eq!(
            split(&page(&["d/readme"], &["d/2024/"], false), 0, true, 16),
            Sampled::Descend {
                prefix: "d/2024/".into(),
                depth: 1,
                all: false
            }
        );
        assert_eq!(
            split(&page(&[], &["d/2024/"], false), 0, true, 16),
            Sampled::Descend {
                prefix: "d/2024/".into(),
                depth: 1,
                all: true
            }
        );
        // Not past the depth bound, and not on a truncated page (more may follow).
        assert_eq!(
            bounds(split(&page(&[], &["d/a/"], false), MAX_DEPTH, false, 16)),
            [(None, None)]
        );
        assert_eq!(
            bounds(split(&page(&[], &["d/a/"], true), 0, true, 16)),
            [(None, None)]
        );
    }

    #[test]
    fn subfolders_bound_at_most_the_ranges_wanted() {
        assert_eq!(
            bounds(split(
                &page(&["d/0"], &["d/a/", "d/b/", "d/c/"], false),
                0,
                true,
                16
            )),
            [
                (None, some("d/b/")),
                (some("d/b/"), some("d/c/")),
                (some("d/c/"), None)
            ]
        );
        let many: Vec<String> = (0..1000).map(|i| format!("d/{i:04}/")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let r = bounds(split(&page(&[], &many, true), 0, true, 4));
        assert_eq!(
            r,
            [
                (None, some("d/0001/")),
                (some("d/0001/"), some("d/0334/")),
                (some("d/0334/"), some("d/0667/")),
                (some("d/0667/"), None)
            ]
        );
        // One range wanted: the flat listing.
        assert_eq!(
            bounds(split(&page(&[], &many, false), 0, true, 1)),
            [(None, None)]
        );
    }

    #[test]
    fn a_range_ends_past_its_bound() {
        let r = Range {
            after: None,
            upto: some("d/b/"),
        };
        assert!(!r.past("d/a/z") && !r.past("d/b/") && r.past("d/b/x") && r.past("d/c"));
        assert!(!Range::default().past("zzz"));
    }
}
