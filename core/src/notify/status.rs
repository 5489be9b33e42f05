//! The status object of an asynchronous pack: a small JSON document next to the archive,
//! `<dest-key>.status.json`, written when the pack starts, while it runs and when it ends,
//! read by the caller through a presigned GET (the `status_url` of the `202`).
//!
//! Why next to the archive: it is then under the same destination prefix the operator lets
//! the request write (so it needs no permission of its own and reaches nothing the archive
//! could not), it is found by whoever knows the archive's key, and a bucket lifecycle rule
//! on the prefix expires both. It can never be the archive (a suffix is added) and a
//! `dest-file` may not end with the suffix (so no archive can be another pack's status);
//! it is created only where no object exists, unless the operator allows overwriting, so
//! it cannot replace a source either.
//!
//! It never holds a credential: the summary's presigned link (what a synchronous answer
//! carries too) and error messages, which never hold one.

use serde::{Deserialize, Serialize};

use crate::pack::{PackError, Progress, Summary};

/// What is appended to the archive's key.
pub const STATUS_SUFFIX: &str = ".status.json";

/// The longest object key S3 and OSS accept.
const MAX_KEY_BYTES: usize = 1024;

/// A destination whose status object cannot be written (`400`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StatusKeyError {
    #[error("`dest-file` may not end with `.status.json`: that name is a pack's status object")]
    LooksLikeStatus,
    #[error("`dest-file` is too long for its status object (`<dest-file>.status.json`, at most 1024 bytes)")]
    TooLong,
}

/// Refuses destinations that are named like a status object (for every pack, so that no
/// archive can ever take another pack's status object's place).
pub fn check_dest_is_not_status(dest_key: &str) -> Result<(), StatusKeyError> {
    if dest_key.ends_with(STATUS_SUFFIX) {
        Err(StatusKeyError::LooksLikeStatus)
    } else {
        Ok(())
    }
}

/// The status object's key for an archive at `dest_key`.
pub fn status_key(dest_key: &str) -> Result<String, StatusKeyError> {
    check_dest_is_not_status(dest_key)?;
    let key = format!("{dest_key}{STATUS_SUFFIX}");
    if key.len() > MAX_KEY_BYTES {
        return Err(StatusKeyError::TooLong);
    }
    Ok(key)
}

/// Whether `body` is a status document of an earlier pack of the archive `key` (one that
/// failed, or died running, which the same request made again resumes): a new pack of that
/// archive may replace it, as it may not replace any other object.
pub fn is_status_of(body: &[u8], key: &str) -> bool {
    #[derive(Deserialize)]
    struct Earlier {
        #[allow(dead_code)]
        request_id: String,
        #[allow(dead_code)]
        state: State,
        key: String,
        #[allow(dead_code)]
        progress: serde::de::IgnoredAny,
    }
    serde_json::from_slice::<Earlier>(body).is_ok_and(|e| e.key == key)
}

impl From<StatusKeyError> for PackError {
    fn from(e: StatusKeyError) -> Self {
        PackError::invalid(e.to_string())
    }
}

/// Where a pack is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Running,
    Done,
    Failed,
}

/// The status document. `progress` counts entries and object bytes packed of the plan's
/// totals (both totals 0 while the sources are being listed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Status {
    pub request_id: String,
    pub state: State,
    /// The archive's key.
    pub key: String,
    pub progress: ProgressDoc,
    /// RFC 3339, UTC, whole seconds.
    pub started_at: String,
    pub updated_at: String,
    /// The pack's summary once `done` (the same JSON a synchronous `Accept:
    /// application/json` answer carries, with the archive's presigned `url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
    /// `{"code","message","status"}` once `failed`: what a synchronous answer would have
    /// been.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDoc>,
    /// The callback's delivery, once it was tried (only when the request named one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback: Option<CallbackRecord>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProgressDoc {
    pub entries_done: u64,
    pub entries_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

impl From<Progress> for ProgressDoc {
    fn from(p: Progress) -> Self {
        ProgressDoc {
            entries_done: p.entries_done,
            entries_total: p.entries_total,
            bytes_done: p.bytes_done,
            bytes_total: p.bytes_total,
        }
    }
}

/// A failure as the API answers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorDoc {
    pub code: String,
    pub message: String,
    /// The HTTP status a synchronous pack would have been answered with.
    pub status: u16,
}

impl From<&PackError> for ErrorDoc {
    fn from(e: &PackError) -> Self {
        ErrorDoc {
            code: e.code().to_string(),
            message: e.to_string(),
            status: e.status(),
        }
    }
}

/// Whether the callback was delivered (a `2xx`), after how many attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CallbackRecord {
    pub delivered: bool,
    pub attempts: u32,
}

impl Status {
    /// A pack that has just started.
    pub fn running(request_id: &str, key: &str, now_unix: u64) -> Status {
        let now = rfc3339(now_unix);
        Status {
            request_id: request_id.to_string(),
            state: State::Running,
            key: key.to_string(),
            progress: ProgressDoc::default(),
            started_at: now.clone(),
            updated_at: now,
            summary: None,
            error: None,
            callback: None,
        }
    }

    /// How far it has come.
    pub fn progressed(&mut self, progress: Progress, now_unix: u64) {
        self.progress = progress.into();
        self.updated_at = rfc3339(now_unix);
    }

    /// Its end: `done` with the summary (and all of the plan packed), or `failed`.
    pub fn ended(&mut self, outcome: &Result<Summary, PackError>, now_unix: u64) {
        match outcome {
            Ok(summary) => {
                self.state = State::Done;
                let p = &mut self.progress;
                (p.entries_done, p.bytes_done) = (p.entries_total, p.bytes_total);
                self.summary = Some(summary.clone());
            }
            Err(e) => {
                self.state = State::Failed;
                self.error = Some(e.into());
            }
        }
        self.updated_at = rfc3339(now_unix);
    }

    /// The callback's delivery.
    pub fn called_back(&mut self, record: CallbackRecord, now_unix: u64) {
        self.callback = Some(record);
        self.updated_at = rfc3339(now_unix);
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// `2026-01-01T00:00:00Z`.
pub fn rfc3339(unix: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix.min(i64::MAX as u64) as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        Summary {
            url: "https://s/b/output/a.zip?X-Amz-Signature=x".into(),
            key: "output/a.zip".into(),
            entries: 3,
            bytes_read: 10,
            copied_bytes: 0,
            copied_objects: 0,
            hashed_bytes: 0,
            archive_bytes: 400,
            parts: 1,
            resumed_parts: 0,
            duration_ms: 5,
            skipped: vec![],
            renamed: vec![],
            utf8_fallbacks: vec![],
            verified_objects: 3,
            unverified_objects: 0,
            rereads: 0,
            checksum: None,
        }
    }

    #[test]
    fn status_keys_sit_next_to_the_archive() {
        assert_eq!(
            status_key("output/a.zip").unwrap(),
            "output/a.zip.status.json"
        );
        assert_eq!(
            status_key("output/a.zip.status.json"),
            Err(StatusKeyError::LooksLikeStatus)
        );
        assert_eq!(
            check_dest_is_not_status("output/x.status.json"),
            Err(StatusKeyError::LooksLikeStatus)
        );
        assert_eq!(check_dest_is_not_status("output/status.json.zip"), Ok(()));
        let long = format!("output/{}", "a".repeat(1010));
        assert_eq!(status_key(&long), Err(StatusKeyError::TooLong));
        let e: PackError = StatusKeyError::TooLong.into();
        assert_eq!((e.status(), e.code()), (400, "InvalidRequest"));
    }

    #[test]
    fn a_status_goes_from_running_to_done() {
        let mut s = Status::running("r1", "output/a.zip", 1_767_225_600);
        let json: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(json["state"], "running");
        assert_eq!(json["started_at"], "2026-01-01T00:00:00Z");
        assert_eq!(json["progress"]["entries_total"], 0);
        assert!(json.get("summary").is_none() && json.get("error").is_none());

        s.progressed(
            Progress {
                entries_done: 1,
                entries_total: 3,
                bytes_done: 4,
                bytes_total: 10,
            },
            1_767_225_602,
        );
        s.ended(&Ok(summary()), 1_767_225_605);
        s.called_back(
            CallbackRecord {
                delivered: true,
                attempts: 2,
            },
            1_767_225_606,
        );
        let json: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(json["state"], "done");
        assert_eq!(json["progress"]["entries_done"], 3);
        assert_eq!(json["progress"]["bytes_done"], 10);
        assert_eq!(json["summary"]["key"], "output/a.zip");
        assert_eq!(json["callback"]["attempts"], 2);
        assert_eq!(json["updated_at"], "2026-01-01T00:00:06Z");
        assert_eq!(json["started_at"], "2026-01-01T00:00:00Z");
    }

    #[test]
    fn only_an_earlier_status_of_the_same_archive_may_be_replaced() {
        let mut s = Status::running("r1", "output/a.zip", 0);
        assert!(is_status_of(s.to_json().as_bytes(), "output/a.zip"));
        s.ended(&Err(PackError::NoObjects), 1);
        assert!(is_status_of(s.to_json().as_bytes(), "output/a.zip"));
        assert!(!is_status_of(s.to_json().as_bytes(), "output/b.zip"));
        for other in [
            &b"mine"[..],
            br#"{"key":"output/a.zip"}"#,
            br#"{"request_id":"r","state":"paused","key":"output/a.zip","progress":{}}"#,
        ] {
            assert!(!is_status_of(other, "output/a.zip"));
        }
    }

    #[test]
    fn a_failed_status_carries_the_error_as_the_api_answers_it() {
        let mut s = Status::running("r1", "output/a.zip", 0);
        s.ended(&Err(PackError::NoObjects), 1);
        let json: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(json["state"], "failed");
        assert_eq!(json["error"]["code"], "NoObjects");
        assert_eq!(json["error"]["status"], 404);
        assert!(json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no objects"));
        assert!(json.get("summary").is_none());
    }
}
