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
