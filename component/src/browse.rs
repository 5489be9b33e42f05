//! `GET /list?bucket=…&prefix=…`: one page of a bucket's folder for a file browser (the
//! host's `--ui` page): the folders and files directly under `prefix`, as JSON. Only what
//! the operator's source prefixes let a pack read is shown (`core::auth::browsing`), and
//! the caller is authenticated as for a pack (a bearer token, or an anonymous service;
//! signed links name one pack and do not list).
//!
//! The listing is one `ListObjectsV2` with `delimiter=/`; a failure is the answer (no
//! retry: the page asks again). A folder only on the way to the source prefixes is not
//! listed at all: what it shows is told from the prefixes (`AccessPolicy::on_the_way`).

use wstd::http::{Body, Client, Response, StatusCode};
use zip_oss_core::auth::AccessPolicy;
use zip_oss_core::pack::PackError;
use zip_oss_core::store::{decode_form, Bucket, ListObjectsV2, ListPage, StoreConfig, StoreError};

use crate::executor::{now_unix, to_wstd};

/// What the page asks for.
pub struct ListQuery {
    pub bucket: String,
    pub prefix: String,
    pub region: Option<String>,
    pub continuation_token: Option<String>,
}

impl ListQuery {
    pub fn parse(query: &str) -> Result<ListQuery, PackError> {
        let (mut bucket, mut prefix, mut region, mut token) = (None, String::new(), None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode_form(value)
                .ok_or_else(|| PackError::invalid(format!("`{name}` is not UTF-8")))?;
            match name {
                "bucket" => bucket = Some(value),
                "prefix" => prefix = value,
                "region" => region = Some(value),
                "continuation-token" => token = Some(value),
                _ => {}
            }
        }
        Ok(ListQuery {
            bucket: bucket
                .filter(|b| !b.is_empty())
                .ok_or_else(|| PackError::invalid("`bucket` is required"))?,
            prefix,
            region,
            continuation_token: token.filter(|t| !t.is_empty()),
        })
    }
}

/// Lists `query.prefix` (a folder the policy lets the caller see, else `403`) and
/// answers `{"bucket","prefix","folders":[…],"files":[{"key","size","modified"}],"next"}`.
pub async fn respond(
    cfg: &StoreConfig,
    policy: &AccessPolicy,
    query: &ListQuery,
) -> Result<Response<Body>, PackError> {
    if !policy.may_list(&query.prefix) {
        return Err(PackError::AccessDenied(format!(
            "`{}` is not a folder this service may show",
            query.prefix
        )));
    }
    let bucket =
        Bucket::new(query.bucket.as_str()).map_err(|e| PackError::invalid(e.to_string()))?;
    if let Some(folders) = policy.on_the_way(&query.prefix) {
        let page = ListPage {
            objects: Vec::new(),
            next_continuation_token: None,
            is_truncated: false,
            common_prefixes: folders,
        };
        return json_response(listing_json(query, page));
    }
    let request = ListObjectsV2::new(&bucket, &query.prefix)
        .delimiter("/")
        .continuation_token(query.continuation_token.as_deref())
        .sign(cfg, now_unix());
    let what = format!("list `{}`", query.prefix);
    let unreachable = |detail: String| PackError::StoreUnreachable {
        what: what.clone(),
        detail,
    };
    let request = to_wstd(request, Default::default()).map_err(unreachable)?;
    let mut response = Client::new()
        .send(request)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .bytes_contents()
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    StoreError::check(status, &body).map_err(|e| PackError::store(what.clone(), e))?;
    let page =
        ListObjectsV2::parse(&body, cfg.provider).map_err(|e| PackError::InvalidResponse {
            what: what.clone(),
            detail: e.message,
        })?;
    json_response(listing_json(query, policy.browsable(page)))
}

fn json_response(json: String) -> Result<Response<Body>, PackError> {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Body::from(json))
        .map_err(|e| PackError::Internal(format!("response head: {e}")))
}

fn listing_json(query: &ListQuery, page: ListPage) -> String {
    let files: Vec<_> = page
        .objects
        .iter()
        // The folder's own marker (`prefix` itself) is not a file in it.
        .filter(|o| o.key != query.prefix)
        .map(|o| {
            serde_json::json!({
                "key": o.key,
                "size": o.size,
                "modified": o.last_modified_unix,
            })
        })
        .collect();
    serde_json::json!({
        "bucket": query.bucket,
        "prefix": query.prefix,
        "folders": page.common_prefixes,
        "files": files,
        "next": page.next_continuation_token,
    })
    .to_string()
}
