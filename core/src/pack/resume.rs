//! A pack that died resumes: its multipart upload stays open, and the same request made
//! again continues it instead of starting over.
//!
//! A small checkpoint object next to the archive (`<dest-file>.zip-oss-resume`) names the
//! upload and a fingerprint of the plan (every entry's key, ETag, size, time, name and
//! method, the part size, the options, the zip-oss version), and is a lease: the pack
//! rewrites it every third of [`Resume::lease_secs`] while it runs. A pack that finds it:
//! - written less than a lease ago (the store's clock on both sides): another pack is on
//!   it, so `409 PackInProgress`, never two packs on one upload;
//! - of another plan (an object changed): aborts that upload and starts fresh;
//! - of this plan: lists the upload's parts and keeps each one whose checksum (or MD5
//!   ETag) is that of the bytes it would send now, uploading only the others.
//!
//! The archive is rebuilt from fresh reads either way (the entries' CRC-32s come from the
//! bytes), so a kept part is always byte-for-byte what this pack would write: no archive
//! ever mixes two versions of an object. What resuming saves is the upload of the parts
//! already there, not their reads. The checkpoint goes when the pack ends; a pack nobody
//! repeats leaves it, and its upload, to the bucket's lifecycle rule.

use std::collections::BTreeMap;

use md5::Digest as _;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use sha2::Sha256;
use std::hash::Hash as _;

use super::rope::Rope;
use crate::plan::Plan;
use crate::store::checksum::Checksum;
use crate::store::{ListedPart, Provider};

/// Appended to the archive's key: the checkpoint's key.
pub const CHECKPOINT_SUFFIX: &str = ".zip-oss-resume";
/// Names the checkpoint's format (and tells it from an object that merely has its name).
const FORMAT: &str = "zip-oss-resume/1";

/// The checkpoint object's key for an archive at `dest`.
pub fn checkpoint_key(dest: &str) -> String {
    format!("{dest}{CHECKPOINT_SUFFIX}")
}

/// The checkpoint object's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Checkpoint {
    pub format: String,
    pub fingerprint: String,
    pub upload_id: String,
    /// A digest of the fields above, so a checkpoint changed on the way reads as garbled
    /// (and is read again), never as another pack's. Absent in checkpoints written before
    /// it existed, which are taken as they are (a stale plan's, by their fingerprint).
    #[serde(default)]
    pub check: String,
    /// The upload's marker (`Upload::marker`): a resumed upload's archive is told by it too.
    /// Absent in checkpoints written before it existed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub marker: String,
}

impl Checkpoint {
    pub fn new(fingerprint: &str, upload_id: &str) -> Checkpoint {
        let mut c = Checkpoint {
            format: FORMAT.into(),
            fingerprint: fingerprint.into(),
            upload_id: upload_id.into(),
            check: String::new(),
            marker: String::new(),
        };
        c.check = c.digest();
        c
    }

    /// The same checkpoint naming the upload's marker.
    pub fn with_marker(mut self, marker: &str) -> Checkpoint {
        self.marker = marker.into();
        self.check = self.digest();
        self
    }

    fn digest(&self) -> String {
        let mut h = Sha256::new();
        // The marker only when there is one: checkpoints from before it keep their digest.
        let marker = Some(&self.marker).filter(|m| !m.is_empty());
        for field in [&self.format, &self.fingerprint, &self.upload_id]
            .into_iter()
            .chain(marker)
        {
            h.update((field.len() as u64).to_be_bytes());
            h.update(field.as_bytes());
        }
        hex::encode(&h.finalize()[..8])
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("plain strings")
    }

    /// `None` for anything that is not a checkpoint of this format.
    pub fn parse(body: &[u8]) -> Option<Checkpoint> {
        serde_json::from_slice::<Checkpoint>(body).ok().filter(|c| {
            c.format == FORMAT
                && !c.upload_id.is_empty()
                && (c.check.is_empty() || c.check == c.digest())
        })
    }
}

/// What a found checkpoint means for this pack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// Another pack renewed it within the lease: it is running. Retry after this many seconds.
    Live { retry_after: u64 },
    /// The same plan's upload: continue it (its marker, if the checkpoint names one).
    Same {
        upload_id: String,
        marker: Option<String>,
    },
    /// Another plan's upload, abandoned: abort it.
    Stale { upload_id: String },
    /// Not a checkpoint: an object of the user's that merely has the name.
    Foreign,
}

/// Judges a checkpoint read at `store_now`, written at `last_modified` (both the store's
/// clock, so no skew enters; `None` if the answer said nothing, then it counts as live).
pub(crate) fn judge(
    body: &[u8],
    last_modified: Option<i64>,
    store_now: Option<i64>,
    lease_secs: u64,
    fingerprint: &str,
) -> Found {
    let Some(checkpoint) = Checkpoint::parse(body) else {
        return Found::Foreign;
    };
    let age = match (last_modified, store_now) {
        (Some(at), Some(now)) => now.saturating_sub(at).max(0) as u64,
        _ => 0,
    };
    if age < lease_secs {
        return Found::Live {
            retry_after: lease_secs - age,
        };
    }
    if checkpoint.fingerprint == fingerprint {
        Found::Same {
            upload_id: checkpoint.upload_id,
            marker: Some(checkpoint.marker).filter(|m| !m.is_empty()),
        }
    } else {
        Found::Stale {
            upload_id: checkpoint.upload_id,
        }
    }
}

/// Seconds the checkpoint `body` still holds its destination, judged as [`judge`] does from
/// the answer's `Last-Modified` and `Date` (`None`: not a checkpoint, or its lease is over).
/// For a `409 PackInProgress` before a pack starts: an asynchronous one is refused with it
/// rather than accepted and failed.
pub fn lease_left(
    body: &[u8],
    last_modified: Option<&str>,
    date: Option<&str>,
    lease_secs: u64,
) -> Option<u64> {
    let last_modified = last_modified.and_then(crate::store::parse_http_date);
    let store_now = date.and_then(crate::store::parse_http_date);
    match judge(body, last_modified, store_now, lease_secs, "") {
        Found::Live { retry_after } => Some(retry_after),
        _ => None,
    }
}

/// A checkpoint's body as a pack writes it (digest included), for tools and tests that
/// stand in for a pack.
pub fn checkpoint_body(fingerprint: &str, upload_id: &str) -> Vec<u8> {
    Checkpoint::new(fingerprint, upload_id).to_json()
}

/// Everything the archive's bytes follow from, hashed: equal fingerprints, equal archives.
pub(crate) fn fingerprint(
    provider: Provider,
    bucket: &str,
    dest: &str,
    plan: &Plan,
    part_size: u64,
    checksums: bool,
    copies: &[u8],
) -> String {
    let mut h = Sha256::new();
    let mut field = |s: &str| {
        h.update((s.len() as u64).to_be_bytes());
        h.update(s.as_bytes());
    };
    field(FORMAT);
    field(env!("CARGO_PKG_VERSION"));
    field(&format!("{provider:?}"));
    field(bucket);
    field(dest);
    field(&part_size.to_string());
    field(if checksums { "checksums" } else { "-" });
    // Which entries are copied, and their CRC-32s: that decides the parts.
    h.update((copies.len() as u64).to_be_bytes());
    h.update(copies);
    // Every field of every entry (key, name, kind and size, time, method and level,
    // sniffing, name encoding, ETag), as `Hash` feeds them: a field added is in by its
    // derive. (Their `Debug`, hashed before, cost ~8 % of a pack of small objects' CPU.)
    // `Hash`'s bytes may differ between builds; the version is in, and a fingerprint
    // that differs only starts the upload afresh.
    let mut feed = Feed(&mut h);
    for e in &plan.entries {
        e.hash(&mut feed);
    }
    hex::encode(h.finalize())
}

/// A `Hasher` that hands what it is fed to SHA-256.
struct Feed<'a>(&'a mut Sha256);

impl std::hash::Hasher for Feed<'_> {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        unreachable!("only fed")
    }
}

/// Where the resume of one pack stands.
#[derive(Debug, Default)]
pub(crate) struct Resume {
    /// 0: resuming is off (no checkpoint read or written).
    pub lease_secs: u64,
    pub fingerprint: String,
    /// The checkpoint is ours: written (or taken over) by this pack, so it deletes it.
    pub ours: bool,
    /// A write of our checkpoint ended without a clear answer: it may be there.
    pub unsure: bool,
    /// No checkpoint was there: ours is written only if the key is still free.
    pub claim_free_key: bool,
    /// The upload may take parts (the checkpoint is written and old parts are listed).
    pub ready: bool,
    /// Parts the resumed upload already holds, by number.
    pub listed: BTreeMap<u32, ListedPart>,
    /// Parts kept from the resumed upload, not uploaded again.
    pub kept: u32,
    pub delete_started: bool,
    pub delete_done: bool,
}

impl Resume {
    pub fn on(&self) -> bool {
        self.lease_secs > 0
    }

    /// How often the running pack renews its checkpoint.
    pub fn renew_every_ms(&self) -> u64 {
        self.lease_secs * 1000 / 3
    }

    /// Whether a listed part `number` holds exactly `data`: by the store's CRC when it
    /// states one (`crc`, ours, in the same algorithm), else by an MD5 ETag. Takes it
    /// out of the list either way: a part not kept is uploaded again under its number.
    pub fn keep(&mut self, number: u32, data: &Rope, crc: Option<Checksum>) -> Option<String> {
        let listed = self.listed.remove(&number)?;
        if listed.size != data.len() as u64 {
            return None;
        }
        let same = match (&listed.checksum, &crc) {
            (Some(theirs), Some(ours)) if theirs.algorithm == ours.algorithm => theirs == ours,
            _ => md5_etag(&listed.etag).is_some_and(|md5| md5 == md5_of(data)[..]),
        };
        same.then(|| {
            self.kept += 1;
            listed.etag
        })
    }
}

fn md5_of(data: &Rope) -> Vec<u8> {
    let mut md5 = md5::Md5::new();
    for piece in data.pieces() {
        md5.update(piece);
    }
    md5.finalize().to_vec()
}

/// The MD5 a plain ETag is (a quoted hex digest; not for multipart or encrypted objects).
fn md5_etag(etag: &str) -> Option<Vec<u8>> {
    let hex = etag.trim().trim_matches('"');
    (hex.len() == 32).then(|| hex::decode(hex).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::checksum::Algorithm;

    const FP: &str = "f1";

    fn body(fingerprint: &str) -> Vec<u8> {
        Checkpoint::new(fingerprint, "U1").to_json()
    }

    #[test]
    fn a_fresh_checkpoint_is_a_live_pack() {
        let b = body(FP);
        assert_eq!(
            judge(&b, Some(100), Some(105), 20, FP),
            Found::Live { retry_after: 15 }
        );
        // No dates to judge by: assume it lives (a wrong guess costs a retry, not an archive).
        assert_eq!(
            judge(&b, None, Some(105), 20, FP),
            Found::Live { retry_after: 20 }
        );
    }

    #[test]
    fn a_changed_checkpoint_is_no_checkpoint_and_an_older_one_still_is() {
        let body = checkpoint_body("f", "U1");
        assert_eq!(Checkpoint::parse(&body).unwrap().upload_id, "U1");
        let changed = String::from_utf8(body).unwrap().replace("U1", "U7");
        assert!(Checkpoint::parse(changed.as_bytes()).is_none());
        // Written before checkpoints had a digest: its upload is still found (and, its
        // fingerprint being another version's, aborted once its lease is over).
        let older = br#"{"format":"zip-oss-resume/1","fingerprint":"f","upload_id":"U1"}"#;
        assert_eq!(Checkpoint::parse(older).unwrap().upload_id, "U1");
        // A marker is covered by the digest too; one without a marker keeps the old digest.
        let marked = Checkpoint::new("f", "U1").with_marker("m1").to_json();
        assert_eq!(Checkpoint::parse(&marked).unwrap().marker, "m1");
        let changed = String::from_utf8(marked).unwrap().replace("m1", "m2");
        assert!(Checkpoint::parse(changed.as_bytes()).is_none());
        let unmarked = Checkpoint::new("f", "U1");
        assert_eq!(unmarked.clone().with_marker("").check, unmarked.check);
        assert!(!String::from_utf8(unmarked.to_json())
            .unwrap()
            .contains("marker"));
    }

    #[test]
    fn the_lease_left_is_read_from_the_answer_headers() {
        let (at, now) = (
            "Thu, 01 Jan 2026 00:00:00 GMT",
            "Thu, 01 Jan 2026 00:00:05 GMT",
        );
        assert_eq!(lease_left(&body(FP), Some(at), Some(now), 20), Some(15));
        let later = "Thu, 01 Jan 2026 00:00:21 GMT";
        assert_eq!(lease_left(&body(FP), Some(at), Some(later), 20), None);
        assert_eq!(
            lease_left(b"{}", Some(at), Some(now), 20),
            None,
            "not a checkpoint"
        );
        assert_eq!(
            lease_left(&body(FP), Some(at), Some(now), 0),
            None,
            "resuming off"
        );
    }

    #[test]
    fn an_expired_checkpoint_resumes_or_is_stale() {
        assert_eq!(
            judge(&body(FP), Some(100), Some(121), 20, FP),
            Found::Same {
                upload_id: "U1".into(),
                marker: None,
            }
        );
        let marked = Checkpoint::new(FP, "U1").with_marker("m1").to_json();
        assert_eq!(
            judge(&marked, Some(100), Some(121), 20, FP),
            Found::Same {
                upload_id: "U1".into(),
                marker: Some("m1".into()),
            }
        );
        assert_eq!(
            judge(&body("other"), Some(100), Some(121), 20, FP),
            Found::Stale {
                upload_id: "U1".into()
            }
        );
        assert_eq!(
            judge(b"{\"x\":1}", Some(0), Some(999), 20, FP),
            Found::Foreign
        );
        assert_eq!(
            judge(b"PK\x03\x04", Some(0), Some(999), 20, FP),
            Found::Foreign
        );
    }

    #[test]
    fn the_fingerprint_follows_every_input() {
        use crate::plan::{PlanOptions, Source};
        let req = crate::plan::PackRequest::from_json(
            br#"{"bucket":"b","source-dir":"d/","dest-file":"o/a.zip"}"#,
        )
        .unwrap();
        let options = PlanOptions::from_request(&req).unwrap();
        let plan = |etag: &str| {
            Plan::build(
                vec![Source {
                    key: "d/a".into(),
                    size: 3,
                    base: "d/".into(),
                    etag: Some(etag.into()),
                    ..Default::default()
                }],
                &options,
            )
        };
        let fp =
            |p: &Plan, part: u64| fingerprint(Provider::S3, "b", "o/a.zip", p, part, true, &[]);
        let base = fp(&plan("e1"), 5 << 20);
        assert_eq!(base, fp(&plan("e1"), 5 << 20));
        assert_ne!(base, fp(&plan("e2"), 5 << 20), "an object changed");
        assert_ne!(base, fp(&plan("e1"), 6 << 20), "another part size");
        assert_ne!(
            base,
            fingerprint(
                Provider::Oss,
                "b",
                "o/a.zip",
                &plan("e1"),
                5 << 20,
                true,
                &[]
            )
        );
    }

    #[test]
    fn a_listed_part_is_kept_only_if_it_is_the_bytes() {
        let bytes = b"the part's bytes";
        let data = &Rope::from(bytes.to_vec());
        let a = Algorithm::Crc64Nvme;
        let ours = Checksum::crc(a, crate::store::checksum::crc(a, bytes));
        let listed = |etag: &str, checksum: Option<Checksum>, size: u64| ListedPart {
            number: 1,
            etag: etag.into(),
            size,
            checksum,
        };
        let mut r = Resume::default();
        r.listed.insert(1, listed("\"x\"", Some(ours.clone()), 16));
        assert_eq!(
            r.keep(1, data, Some(ours.clone())).as_deref(),
            Some("\"x\"")
        );
        assert_eq!(
            r.keep(1, data, Some(ours.clone())),
            None,
            "taken out once kept"
        );
        let wrong = Checksum::crc(a, 7);
        r.listed.insert(1, listed("\"x\"", Some(wrong), 16));
        assert_eq!(r.keep(1, data, Some(ours.clone())), None);
        // No checksum from the store: the ETag as MD5.
        let md5 = format!("\"{}\"", hex::encode(md5::Md5::digest(bytes)));
        r.listed.insert(1, listed(&md5, None, 16));
        assert_eq!(r.keep(1, data, None).as_deref(), Some(md5.as_str()));
        r.listed.insert(1, listed(&md5, None, 16));
        assert_eq!(
            r.keep(1, &Rope::from(b"the part's bytez".to_vec()), None),
            None,
            "other bytes, same length"
        );
        r.listed.insert(1, listed("\"abc-2\"", None, 16));
        assert_eq!(r.keep(1, data, None), None, "not an MD5: uploaded again");
        assert_eq!(r.kept, 2);
    }
}
