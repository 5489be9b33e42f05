//! The page of `serve --ui` in a real browser: headless Chromium driven by Selenium
//! (`tools/ui_page.py`) against a token-protected service limited to `shared/`. It walks two
//! folders down, ticks a folder and files in two folders, reads the exact size, downloads
//! the zip through the browser and asks for the link; the readers judge both archives.
//! Without `--ui` there is no page.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use zip_oss::serve::ServeOptions;
use zip_oss_tests::readers::{check_archive, check_uploaded_archive, Manifest};
use zip_oss_tests::{answer, noise, save, Env};

const TOKEN: &str = "ui-test-token-0123456789abcdef";

#[test]
fn browse_tick_download_and_link_in_headless_chromium() {
    let env = Env::with_access(|a| {
        a.tokens = Some(TOKEN.into());
        a.source_prefix = vec!["shared/".into()];
    });
    let files: Vec<(String, Vec<u8>)> = [
        ("shared/readme.txt", noise(300, 1)),
        ("shared/docs/guide.md", noise(200, 2)),
        ("shared/photos/notes.txt", noise(150, 3)),
        ("shared/photos/2024/pic 1.jpg", noise(200_000, 4)),
        ("shared/photos/2024/pic2.jpg", noise(70_000, 5)),
        ("shared/photos/2024/trip/北京.bin", noise(3_000, 6)),
        ("private/secret.txt", noise(100, 7)),
        ("top.txt", noise(100, 8)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let paths = env.put_files(&files);

    // The server the tests share has no page; a second one over the same runtime has.
    assert_eq!(
        zip_oss_tests::get(&env.url()).status,
        405,
        "no --ui, no page"
    );
    let (addr, _server) = env
        .rt
        .block_on(zip_oss::serve::start_with(
            env.runtime.clone(),
            "127.0.0.1:0".parse().unwrap(),
            ServeOptions {
                ui: true,
                ..Default::default()
            },
        ))
        .unwrap();
    let url = format!("http://{addr}/");
    let page = zip_oss_tests::get(&url);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("<title>zip-oss</title>"));
    // What the page's listing goes through: the token and the source prefix.
    let list = |prefix: &str, token: Option<&str>| {
        let mut req = ureq::get(&format!("{url}list?bucket=bkt&prefix={prefix}"));
        if let Some(t) = token {
            req = req.set("authorization", &format!("Bearer {t}"));
        }
        answer(req.call())
    };
    assert_eq!(list("shared/", None).status, 401);
    assert_eq!(list("private/", Some(TOKEN)).status, 403);
    // The top, on the way to `shared/`, shows only that, with no continuation token that
    // could name a key it hides (the store's names the page's last key).
    let listings = |env: &zip_oss_tests::Env| {
        (env.proxy.log().iter())
            .filter(|l| l.contains("list-type=2"))
            .count()
    };
    let before = listings(&env);
    let top = list("", Some(TOKEN));
    assert_eq!(top.status, 200, "{}", top.text());
    assert_eq!(listings(&env), before, "the top was told, not listed");
    assert_eq!(list("shared/", Some(TOKEN)).status, 200);
    assert_eq!(listings(&env), before + 1, "a folder under it is listed");
    let json: serde_json::Value = serde_json::from_slice(&top.body).unwrap();
    assert_eq!(json["folders"], serde_json::json!(["shared/"]), "{json}");
    assert_eq!(json["files"], serde_json::json!([]), "{json}");
    assert!(json["next"].is_null(), "{json}");

    let downloads = env.dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let screenshot = screenshot_path();
    let out = Command::new("python3")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/ui_page.py"))
        .arg(&url)
        .arg(TOKEN)
        .arg(&downloads)
        .arg(&screenshot)
        .output()
        .expect("python3 (scripts/setup installs selenium, chromium and chromium-driver)");
    assert!(
        out.status.success(),
        "the page failed in the browser: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    println!("browser: {result}; screenshot {}", screenshot.display());

    // Names relative to the deepest folder holding every pick (`shared/`).
    let manifest: Manifest = [
        "shared/readme.txt",
        "shared/photos/notes.txt",
        "shared/photos/2024/pic 1.jpg",
        "shared/photos/2024/pic2.jpg",
        "shared/photos/2024/trip/北京.bin",
    ]
    .iter()
    .map(|k| (k["shared/".len()..].to_string(), Some(paths[*k].clone())))
    .collect::<BTreeMap<_, _>>();

    let zip = PathBuf::from(result["file"].as_str().unwrap());
    assert_eq!(zip.file_name().unwrap(), "shared.zip");
    let size = std::fs::metadata(&zip).unwrap().len();
    assert_eq!(
        result["size"].as_u64(),
        Some(size),
        "the size the page showed is the downloaded archive's"
    );
    check_archive(&zip, &manifest);

    let link = answer(ureq::get(result["link"].as_str().unwrap()).call());
    assert_eq!(link.status, 200, "the link the page showed");
    // The same entries packed into the bucket: without the streamed answer's data
    // descriptors (16 bytes for each of the 5 files), read front to back too.
    assert_eq!(
        link.body.len() as u64,
        size - 16 * 5,
        "the same archive, packed into the bucket"
    );
    let linked = save(env.dir.path(), "linked.zip", &link.body);
    check_uploaded_archive(&linked, &manifest);
}

/// Where the screenshot goes: `ZIP_OSS_UI_SCREENSHOT` (docs/ui.png was taken so), else
/// beside the build's output.
fn screenshot_path() -> PathBuf {
    std::env::var_os("ZIP_OSS_UI_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ui-page.png"))
}
