//! The embedded s3s-fs store checks signatures, and the downloader reports refusals.

use zip_oss::{demo, embedded_store};

#[tokio::test]
async fn unsigned_requests_are_refused() {
    let root = std::env::temp_dir().join(format!("zip-oss-store-test-{}", std::process::id()));
    let files = vec![("hello.txt".to_string(), b"hello".to_vec())];
    demo::write_samples(&root, "bucket", "in/", &files).unwrap();
    let (addr, store) = embedded_store::start(&root, "127.0.0.1:0".parse().unwrap(), "AK", "SK")
        .await
        .unwrap();

    let out = root.join("out.bin");
    let err =
        zip_oss::download::download(&format!("http://{addr}/bucket/in/hello.txt"), &out, None)
            .await
            .unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains("403") && message.contains("AccessDenied"),
        "{message}"
    );
    assert!(!out.exists());

    store.shutdown().await;
    std::fs::remove_dir_all(&root).unwrap();
}
