//! A folder's listing split into key ranges listed at once.
//!
//! One prefix's pages come one after another (each needs the last one's continuation
//! token), so a folder of a million keys is a thousand round trips in a row. A folder is
//! listed flat from the start and, once its first page shows it is more than a page,
//! beside it goes a *sample*: one page with `delimiter=/`, whose subfolders are
//! boundaries. The keys under the prefix fall into ranges `(after, upto]` between them;
//! the flat listing becomes the first range (cut at the first boundary past where it has
//! got to), and the others are listed on their own (`start-after`, then their own tokens,
//! each cut where it passes its end). The ranges one after the other are exactly the flat
//! listing, whatever the boundaries. A sample naming one subfolder only is taken again
//! inside it (`photos/2024/` → its months).
//!
//! The sample is advice: a folder of a page is never sampled, a small one is listed by
//! the time its sample answers (which then changes nothing), so listing in ranges costs no
//! round trip; a sample that fails is forgotten. Boundaries only balance the work, so a
//! poor choice costs time, never correctness: a thousand tiny subfolders still make at
//! most `ranges` ranges. Once the sample has answered, a range still listing after
//! the folder's third page splits further by its names
//! ([`list_guess`](super::list_guess)): a folder of files only fans out too.

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

/// What a sample (one delimited page) says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Sampled {
    /// Sample again inside this subfolder, `depth` deep.
    Descend { prefix: String, depth: u32 },
    /// The folder's subfolders (those of the sample's first page, in order).
    Folders(Vec<String>),
}

/// What the sample `page`, taken `depth` subfolders below the folder listed, says.
pub(crate) fn sampled(page: ListPage, depth: u32) -> Sampled {
    let folders = page.common_prefixes;
    if folders.len() == 1 && !page.is_truncated && depth < MAX_DEPTH {
        let prefix = folders.into_iter().next().expect("one");
        return Sampled::Descend {
            prefix,
            depth: depth + 1,
        };
    }
    Sampled::Folders(folders)
}

/// Where to cut the rest of a listing that has `listed` keys up to `last`, in pages of
/// `page` keys, by the subfolders `folders`: into as many ranges as the rest is pages, by
/// its estimate (the keys listed per subfolder reached, times the subfolders ahead), at
/// most `ranges`. No cut when the rest is a page or less: ranges that small would each list
/// a page of keys past their end. `None`: no subfolder reached yet, nothing to estimate by.
pub(crate) fn bounds(
    folders: &[String],
    (listed, page): (usize, usize),
    last: &str,
    ranges: usize,
) -> Option<Vec<String>> {
    let reached = folders.partition_point(|f| f.as_str() <= last);
    let ahead = &folders[reached..];
    if reached == 0 && !ahead.is_empty() {
        return None;
    }
    let per_folder = listed / reached.max(1);
    let rest = per_folder.saturating_mul(ahead.len());
    let pieces = rest.div_ceil(page.max(1)).min(ranges).min(ahead.len() + 1);
    // The listing goes on as the first piece, up to the first bound.
    let mut out: Vec<String> = (1..pieces)
        .map(|i| ahead[i * ahead.len() / pieces].clone())
        .collect();
    out.dedup();
    Some(out)
}

/// The ranges `bounds` cut `(after, upto]` into, in order.
pub(crate) fn ranges_between(
    after: Option<String>,
    bounds: &[String],
    upto: Option<String>,
) -> Vec<Range> {
    let mut out = Vec::with_capacity(bounds.len() + 1);
    let mut after = after;
    for b in bounds {
        out.push(Range {
            after: after.take(),
            upto: Some(b.clone()),
        });
        after = Some(b.clone());
    }
    out.push(Range { after, upto });
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

    fn folders(s: Sampled) -> Vec<String> {
        match s {
            Sampled::Folders(f) => f,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_sample_names_the_folders_or_goes_inside_the_only_one() {
        assert!(folders(sampled(page(&["d/a", "d/b"], &[], false), 0)).is_empty());
        assert_eq!(
            sampled(page(&["d/readme"], &["d/2024/"], false), 0),
            Sampled::Descend {
                prefix: "d/2024/".into(),
                depth: 1
            }
        );
        // Not past the depth bound, and not on a truncated page (more may follow).
        assert_eq!(
            folders(sampled(page(&[], &["d/a/"], false), MAX_DEPTH)),
            ["d/a/"]
        );
        assert_eq!(folders(sampled(page(&[], &["d/a/"], true), 0)), ["d/a/"]);
        assert_eq!(
            folders(sampled(page(&["d/0"], &["d/a/", "d/b/"], false), 0)),
            ["d/a/", "d/b/"]
        );
    }

    #[test]
    fn the_rest_is_cut_into_as_many_ranges_as_it_is_pages() {
        let days: Vec<String> = (1..=28).map(|d| format!("m/{d:02}/")).collect();
        let cut =
            |listed, last, ranges| bounds(&days, (listed, 1000), last, ranges).expect("decided");
        // 1,000 keys listed up to day 17: ~59 a day, ~650 to come, one page: no cut.
        assert!(cut(1000, "m/17/x", 16).is_empty());
        // 1,000 keys up to day 2: ~500 a day, ~13,000 to come: the listing and 12 ranges,
        // cut past day 2.
        let b = cut(1000, "m/02/x", 16);
        assert_eq!(b.len(), 12, "{b:?}");
        assert!(b.iter().all(|d| d.as_str() > "m/03/"), "{b:?}");
        assert!(b.windows(2).all(|w| w[0] < w[1]));
        // At most `ranges`, and never more than there are subfolders ahead.
        assert_eq!(cut(1000, "m/02/x", 4).len(), 3);
        assert_eq!(cut(100_000, "m/26/x", 16), ["m/27/", "m/28/"]);
        // Nothing ahead, or one range wanted: no cut.
        assert!(cut(1000, "m/28/x", 16).is_empty());
        assert!(cut(1000, "m/02/x", 1).is_empty());
        assert_eq!(bounds(&[], (1000, 1000), "x", 16), Some(vec![]));
        // No subfolder reached (a page of the folder's own keys): undecided.
        assert_eq!(bounds(&days, (1000, 1000), "m/00", 16), None);
        // Pages of 10 keys: 5 listed up to day 1, ~135 to come, 14 pages: 14 ranges.
        assert_eq!(
            bounds(&days, (5, 10), "m/01/x", 16).map(|b| b.len()),
            Some(13)
        );
    }

    #[test]
    fn bounds_cut_the_rest_into_ranges() {
        let some = |s: &str| Some(s.to_string());
        let r = ranges_between(some("d/a"), &["d/b/".into(), "d/c/".into()], None);
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
