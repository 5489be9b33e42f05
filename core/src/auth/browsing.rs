//! What a file browser (`GET /list`, behind the `--ui` page) may see of a bucket. Without
//! source prefixes, everything the credentials reach; with them, the folders that lead to
//! one (so the page can walk down from the bucket's top) and everything under one, and
//! nothing else: a file beside an allowed folder is not even named.

use super::destinations::{check_dest_key, AccessPolicy};
use crate::store::ListPage;

impl AccessPolicy {
    /// Whether `prefix` (empty, or a folder ending in `/`) may be listed.
    pub fn may_list(&self, prefix: &str) -> bool {
        let folder = prefix.is_empty()
            || prefix
                .strip_suffix('/')
                .is_some_and(|stem| check_dest_key(stem).is_ok());
        folder && (self.sources.is_empty() || self.shows_folder(prefix))
    }

    /// The page with what the policy hides taken out.
    pub fn browsable(&self, mut page: ListPage) -> ListPage {
        if !self.sources.is_empty() {
            page.objects.retain(|o| self.sources.holds_key(&o.key));
            page.common_prefixes.retain(|p| self.shows_folder(p));
        }
        page
    }

    /// What a folder on the way to the source prefixes, but under none, shows: the folders
    /// one level down toward them. Told without listing the store, whose pages there hold
    /// the keys the policy hides, and whose continuation token names one (S3-compatible
    /// stores and OSS make it of the page's last key). `None` where a listing shows it all.
    pub fn on_the_way(&self, prefix: &str) -> Option<Vec<String>> {
        if self.sources.is_empty() || self.sources.holds_prefix(prefix) {
            return None;
        }
        let mut folders: Vec<String> = (self.sources.iter())
            .filter_map(|p| p.strip_prefix(prefix).filter(|rest| !rest.is_empty()))
            .map(|rest| {
                let end = rest.find('/').map_or(rest.len(), |at| at + 1);
                format!("{prefix}{}", &rest[..end])
            })
            .collect();
        folders.sort();
        folders.dedup();
        Some(folders)
    }

    /// A folder under a source prefix, or on the way to one.
    fn shows_folder(&self, folder: &str) -> bool {
        self.sources.holds_prefix(folder) || self.sources.iter().any(|p| p.starts_with(folder))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Prefixes;

    fn policy(sources: &[&str]) -> AccessPolicy {
        AccessPolicy::new(
            Prefixes::default(),
            Prefixes::parse(sources.iter().copied()).unwrap(),
        )
    }

    fn page(keys: &[&str], folders: &[&str]) -> ListPage {
        crate::store::test_page(keys, folders)
    }

    #[test]
    fn open_policy_lists_any_folder() {
        let p = policy(&[]);
        assert!(p.may_list(""));
        assert!(p.may_list("a/b/"));
        assert!(!p.may_list("a/b"), "not a folder");
        assert!(!p.may_list("a/../"));
        assert!(!p.may_list("/"));
        assert_eq!(p.browsable(page(&["x"], &["y/"])), page(&["x"], &["y/"]));
    }

    #[test]
    fn the_way_down_is_told_without_a_listing() {
        let p = policy(&["users/42/", "users/7/docs/", "public/"]);
        assert_eq!(
            p.on_the_way(""),
            Some(vec!["public/".to_string(), "users/".to_string()])
        );
        assert_eq!(
            p.on_the_way("users/"),
            Some(vec!["users/42/".to_string(), "users/7/".to_string()])
        );
        assert_eq!(
            p.on_the_way("users/7/"),
            Some(vec!["users/7/docs/".to_string()])
        );
        assert_eq!(
            p.on_the_way("users/42/"),
            None,
            "listed: all of it may show"
        );
        assert_eq!(p.on_the_way("public/x/"), None);
        assert_eq!(policy(&[]).on_the_way(""), None);
    }

    #[test]
    fn source_prefixes_show_the_way_down_and_what_is_under() {
        let p = policy(&["users/42/"]);
        assert!(p.may_list(""));
        assert!(p.may_list("users/"));
        assert!(p.may_list("users/42/"));
        assert!(p.may_list("users/42/deep/"));
        assert!(!p.may_list("users/43/"));
        assert!(!p.may_list("other/"));
        assert!(!p.may_list("users/42/../43/"));
        assert_eq!(
            p.browsable(page(&["top.txt"], &["users/", "other/"])),
            page(&[], &["users/"])
        );
        assert_eq!(
            p.browsable(page(&["users/x.txt"], &["users/42/", "users/43/"])),
            page(&[], &["users/42/"])
        );
        assert_eq!(
            p.browsable(page(&["users/42/a.txt"], &["users/42/b/"])),
            page(&["users/42/a.txt"], &["users/42/b/"])
        );
    }
}
