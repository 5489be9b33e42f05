//! A folder's listing split into key ranges listed at once.
//!
//! One prefix's pages come one after another (each needs the last one's continuation
//! token), so a folder of a million keys is a thousand round trips in a row. A folder is
//! listed flat from the start, and beside it a *sample*: one page with `delimiter=/`,
//! whose subfolders are boundaries. The keys under the prefix fall into ranges
//! `(after, upto]` between them; the flat listing becomes the first range (cut at the
//! first boundary past where it has got to), and the others are listed on their own
//! (`start-after`, then their own tokens, each cut where it passes its end). The ranges one
//! after the other are exactly the flat listing, whatever the boundaries. A sample naming
//! one subfolder only is taken again inside it (`photos/2024/` → its months).
//!
//! The sample is advice: a small folder is listed by the time it answers, which then
//! changes nothing, so listing in ranges costs no round trip; a sample that fails is
//! forgotten. Boundaries only balance the work, so a poor choice costs time, never
//! correctness: a thousand tiny subfolders still make at most `ranges` ranges.

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
    /// Sample again inside this subfolder, `depth` deep.
    Descend { prefix: String, depth: u32 },
    /// Cut the listing at these keys, in order (none: leave it whole).
    Bounds(Vec<String>),
}

/// What the sample `page`, taken `depth` subfolders below the folder listed, says: at most
/// `ranges - 1` boundaries, all past `listed` (the key the listing has got to).
pub(crate) fn split(page: &ListPage, depth: u32, ranges: usize, listed: Option<&str>) -> Sampled {
    let folders = &page.common_prefixes;
    if folders.len() == 1 && !page.is_truncated && depth < MAX_DEPTH {
        return Sampled::Descend {
            prefix: folders[0].clone(),
            depth: depth + 1,
        };
    }
    // Boundaries among the subfolders after the first (the first range holds the keys
    // before it and the first subfolder), evenly spread over those still ahead.
    let ahead: Vec<&String> = (folders.iter().skip(1))
        .filter(|f| listed.is_none_or(|l| f.as_str() > l))
        .collect();
    let wanted = ranges.saturating_sub(1).min(ahead.len());
    let mut bounds: Vec<String> = (0..wanted)
        .map(|i| ahead[i * ahead.len() / wanted].clone())
        .collect();
    bounds.dedup();
    Sampled::Bounds(bounds)
}

/// The ranges `bounds` cut `(after, ∞)` into, in order.
pub(crate) fn ranges_between(after: Option<String>, bounds: &[String]) -> Vec<Range> {
    let mut out = Vec::with_capacity(bounds.len() + 1);
    let mut after = after;
    for b in bounds {
        out.push(Range {
            after: after.take(),
            upto: Some(b.clone()),
        });
        after = Some(b.clone());
    }
    out.push(Range { after, upto: None });
    out
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

    fn bounds(s: Sampled) -> Vec<String> {
        match s {
            Sampled::Bounds(b) => b,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_folder_without_subfolders_is_left_whole() {
        assert!(bounds(split(&page(&["d/a", "d/b"], &[], false), 0, 16, None)).is_empty());
        assert!(bounds(split(&page(&["d/a"], &[], true), 2, 16, None)).is_empty());
    }

    #[test]
    fn one_subfolder_is_sampled_again_inside() {
        assert_eq!(
            split(&page(&["d/readme"], &["d/2024/"], false), 0, 16, None),
            Sampled::Descend {
                prefix: "d/2024/".into(),
                depth: 1
            }
        );
        // Not past the depth bound, and not on a truncated page (more may follow).
        assert!(bounds(split(&page(&[], &["d/a/"], false), MAX_DEPTH, 16, None)).is_empty());
        assert!(bounds(split(&page(&[], &["d/a/"], true), 0, 16, None)).is_empty());
    }

    #[test]
    fn subfolders_bound_at_most_the_ranges_wanted_past_the_listing() {
        let sample = page(&["d/0"], &["d/a/", "d/b/", "d/c/"], false);
        assert_eq!(bounds(split(&sample, 0, 16, None)), ["d/b/", "d/c/"]);
        assert_eq!(bounds(split(&sample, 0, 16, Some("d/b/x"))), ["d/c/"]);
        assert!(bounds(split(&sample, 0, 16, Some("d/c/"))).is_empty());
        let many: Vec<String> = (0..1000).map(|i| format!("d/{i:04}/")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let sample = page(&[], &many, true);
        assert_eq!(
            bounds(split(&sample, 0, 4, None)),
            ["d/0001/", "d/0334/", "d/0667/"]
        );
        // One range wanted: the flat listing.
        assert!(bounds(split(&sample, 0, 1, None)).is_empty());
    }

    #[test]
    fn bounds_cut_the_rest_into_ranges() {
        let some = |s: &str| Some(s.to_string());
        let r = ranges_between(some("d/a"), &["d/b/".into(), "d/c/".into()]);
        let r: Vec<(Option<String>, Option<String>)> =
            r.into_iter().map(|r| (r.after, r.upto)).collect();
        assert_eq!(
            r,
            [
                (some("d/a"), some("d/b/")),
                (some("d/b/"), some("d/c/")),
                (some("d/c/"), None)
            ]
        );
    }

    #[test]
    fn a_range_ends_past_its_bound() {
        let r = Range {
            after: None,
            upto: Some("d/b/".into()),
        };
        assert!(!r.past("d/a/z") && !r.past("d/b/") && r.past("d/b/x") && r.past("d/c"));
        assert!(!Range::default().past("zzz"));
    }
}
