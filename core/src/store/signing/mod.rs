//! Request signing, one file per scheme. Only AWS SigV4 so far; OSS's S3
//! endpoint accepts it too.

pub mod oss_v4;
pub mod sigv4;
