//! The whole product through real parts: `POST /` to our host serving the component, the
//! component reading and writing a real S3 server (s3s-fs, signatures checked) through the
//! host's outgoing HTTP, a real multipart upload, the `302` link fetched with a plain client,
//! and the archive judged by five independent readers (`readers.rs`).

use zip_oss_tests::readers::{check_uploaded_archive, manifest_under, Manifest};
use zip_oss_tests::{get, noise, save, Env};

/// Keys under `src/` covering what trips up naive packers.
fn awkward_files() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("src/readme.txt".into(), b"hello\n".to_vec()),
        ("src/a/b/c/deep.txt".into(), b"nested folders\n".to_vec()),
        (
            "src/报告/2024年度总结.txt".into(),
            "中文内容".as_bytes().to_vec(),
        ),
        ("src/photos/🎉 party.txt".into(), b"emoji".to_vec()),
        ("src/with space.txt".into(), b"space".to_vec()),
        ("src/plus+sign.txt".into(), b"plus".to_vec()),
        ("src/percent%20literal.txt".into(), b"percent".to_vec()),
        ("src/empty.dat".into(), Vec::new()),
        // 5 MiB parts: this one object spans at least three of them.
        ("src/big/noise.bin".into(), noise(20 << 20, 7)),
    ];
    // Over 1,000 keys: the listing has more than one page.
    for i in 0..1100 {
        files.push((
            format!("src/many/f{i:04}.txt"),
            format!("small file {i}\n").into_bytes(),
        ));
    }
    files
}

#[test]
fn packs_a_folder_and_redirects_to_the_archive() {
    let env = Env::new();
    let paths = env.put_files(&awkward_files());
    let body = format!(
        r#"{{"region":"cn-shanghai","bucket":"{}","source-dir":"src/"}}"#,
        zip_oss_tests::BUCKET
    );

    let answer = env.post(&body, false);
    assert_eq!(answer.status, 302, "{}", answer.text());
    let location = answer
        .headers
        .get("location")
        .expect("Location header")
        .clone();
    let zip = get(&location);
    assert_eq!(zip.status, 200);
    let zip_path = save(env.dir.path(), "out.zip", &zip.body);
    check_uploaded_archive(&zip_path, &manifest_under(&paths, "src/"));
    assert!(
        env.open_uploads().is_empty(),
        "uploads left open: {:?}",
        env.open_uploads()
    );
}

#[test]
fn json_summary_matches_the_archive() {
    let env = Env::with_dest_prefixes(&["out/"]);
    let files = awkward_files();
    let source_bytes: usize = files.iter().map(|(_, d)| d.len()).sum();
    env.put_files(&files);
    let body = format!(
        r#"{{"bucket":"{}","source-dir":"src/","dest-file":"out/all.zip","url-expires":60}}"#,
        zip_oss_tests::BUCKET
    );

    let answer = env.post(&body, true);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let s = answer.json();
    assert_eq!(s["key"], "out/all.zip");
    assert_eq!(s["entries"], files.len() as u64);
    // Every byte read, or (a large one the host hashed) copied by the store.
    let (read, copied) = (s["bytes_read"].as_u64(), s["copied_bytes"].as_u64());
    assert_eq!(read.unwrap() + copied.unwrap(), source_bytes as u64, "{s}");
    assert!(s["parts"].as_u64().unwrap() >= 3, "{s}");
    assert!(s["url"].as_str().unwrap().contains("X-Amz-Expires=60"));
    let zip = get(s["url"].as_str().unwrap());
    assert_eq!(
        zip.body.len() as u64,
        s["archive_bytes"].as_u64().unwrap(),
        "predicted size is the real size"
    );
    assert_eq!(
        std::fs::metadata(env.root().join("bkt/out/all.zip"))
            .unwrap()
            .len(),
        zip.body.len() as u64
    );
}

#[test]
fn source_files_pick_keys_and_names_stay_relative() {
    let env = Env::new();
    let paths = env.put_files(&[
        ("docs/a.txt".into(), b"a".to_vec()),
        ("docs/sub/b.txt".into(), b"b".to_vec()),
        ("docs/not-me.txt".into(), b"no".to_vec()),
        ("elsewhere/c.txt".into(), b"c".to_vec()),
    ]);
    let body = r#"{"bucket":"bkt","source-dir":"docs/","source-files":["docs/a.txt","docs/sub/b.txt","elsewhere/c.txt"],"dest-file":"output/picked.zip"}"#;
    let answer = env.post(body, true);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let zip = get(answer.json()["url"].as_str().unwrap());
    let zip_path = save(env.dir.path(), "picked.zip", &zip.body);
    let manifest: Manifest = [
        ("a.txt".to_string(), Some(paths["docs/a.txt"].clone())),
        (
            "sub/b.txt".to_string(),
            Some(paths["docs/sub/b.txt"].clone()),
        ),
        (
            "elsewhere/c.txt".to_string(),
            Some(paths["elsewhere/c.txt"].clone()),
        ),
    ]
    .into_iter()
    .collect();
    check_uploaded_archive(&zip_path, &manifest);
}

/// Several prefixes, listed at once: every key once, under the first prefix that lists it
/// (one inside another), in the archive in the order of listing them one after the other;
/// one prefix has over 1,000 keys, so its pages come in between the others'.
#[test]
fn several_prefixes_pack_each_key_once_in_the_requests_order() {
    let env = Env::new();
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("a/1.txt".into(), b"1".to_vec()),
        ("a/b/2.txt".into(), b"2".to_vec()),
        ("a/b/3.txt".into(), b"3".to_vec()),
        ("c/4.txt".into(), b"4".to_vec()),
    ];
    for i in 0..1100 {
        files.push((format!("c/many/{i:04}.txt"), vec![b'x'; i % 7]));
    }
    let paths = env.put_files(&files);
    let body =
        r#"{"bucket":"bkt","source-dir":["a/b/","c/","a/"],"dest-file":"output/several.zip"}"#;
    let answer = env.post(body, true);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let zip = get(answer.json()["url"].as_str().unwrap());
    let zip_path = save(env.dir.path(), "several.zip", &zip.body);
    // `a/b/` first: its keys are named under it, and not again under `a/`.
    let mut in_turn: Vec<(String, &str)> = vec![
        ("2.txt".into(), "a/b/2.txt"),
        ("3.txt".into(), "a/b/3.txt"),
        ("4.txt".into(), "c/4.txt"),
    ];
    let many: Vec<String> = (0..1100).map(|i| format!("c/many/{i:04}.txt")).collect();
    in_turn.extend(
        many.iter()
            .map(|k| (k["c/".len()..].to_string(), k.as_str())),
    );
    in_turn.push(("1.txt".into(), "a/1.txt"));
    let manifest: Manifest = (in_turn.iter())
        .map(|(name, key)| (name.clone(), Some(paths[*key].clone())))
        .collect();
    check_uploaded_archive(&zip_path, &manifest);
    let want: Vec<&str> = in_turn.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(entry_names(&zip_path), want);
}

/// A folder of subfolders is listed as key ranges at once (a sample with a delimiter names
/// the subfolders, then each range from its `start-after`), and packs exactly what a flat
/// listing gives, in its order.
#[test]
fn a_folder_of_subfolders_is_listed_in_ranges_in_key_order() {
    // Five folders of 1,100 keys: the sample is cut by whenever it answers in the first
    // three of the flat listing's six pages (after that, the rest is a page).
    let mut keys: Vec<String> = vec!["t/top.txt".into(), "t/b.txt".into(), "t/c/1".into()];
    for folder in ["a", "b", "d", "e", "f"] {
        keys.extend((0..1100).map(|i| format!("t/{folder}/{i:04}")));
    }
    let lists = pack_in_key_order(keys, "t/");
    let sampled = lists.iter().filter(|l| l.contains("delimiter=")).count();
    let ranged = lists.iter().filter(|l| l.contains("start-after=")).count();
    assert!(sampled == 1 && ranged >= 1, "{lists:#?}");
}

/// A folder of files only, named so they count up, splits by its names once three pages
/// are in: the rest is guessed into ranges two pages long, listed from their
/// `start-after`, and the archive is exactly the flat listing, in its order.
#[test]
fn a_folder_of_numbered_files_is_listed_in_ranges_guessed_by_name() {
    let keys: Vec<String> = (0..8000).map(|i| format!("n/IMG_{i:05}.jpg")).collect();
    let lists = pack_in_key_order(keys, "n/");
    // Ranges guessed (`IMG_04`, `IMG_06`, then inside the last as its page comes), each
    // paid for by a page: at most twice the flat listing's eight, and its sample.
    let guessed = lists
        .iter()
        .filter(|l| l.contains("start-after=n%2FIMG_"))
        .count();
    assert!(guessed >= 1 && lists.len() <= 2 * 8 + 1, "{lists:#?}");
}

/// Packs `keys` (a few bytes each) listed under `folder`, checks the archive holds every
/// one in key order (the `zip` crate, and the readers), and returns the listing requests
/// the pack sent, as the proxy logged them.
fn pack_in_key_order(mut keys: Vec<String>, folder: &str) -> Vec<String> {
    let env = Env::new();
    let files: Vec<(String, Vec<u8>)> = (keys.iter())
        .enumerate()
        .map(|(i, k)| (k.clone(), vec![b'0' + (i % 10) as u8; i % 5]))
        .collect();
    let paths = env.put_files(&files);
    let request =
        format!(r#"{{"bucket":"bkt","source-dir":"{folder}","dest-file":"output/listed.zip"}}"#);
    let answer = env.post(&request, true);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let lists: Vec<String> = (env.proxy.log().into_iter())
        .filter(|l| l.contains("list-type=2"))
        .collect();
    keys.sort();
    let zip = get(answer.json()["url"].as_str().unwrap());
    let zip_path = save(env.dir.path(), "listed.zip", &zip.body);
    let manifest: Manifest = (keys.iter())
        .map(|k| {
            (
                k[folder.len()..].to_string(),
                Some(paths[k.as_str()].clone()),
            )
        })
        .collect();
    check_uploaded_archive(&zip_path, &manifest);
    let want: Vec<&str> = keys.iter().map(|k| &k[folder.len()..]).collect();
    assert_eq!(entry_names(&zip_path), want);
    lists
}

/// The archive's entry names in its central directory's order (the `zip` crate).
fn entry_names(zip_path: &std::path::Path) -> Vec<String> {
    let archive = zip::ZipArchive::new(std::fs::File::open(zip_path).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| archive.name_for_index(i).unwrap().to_string())
        .collect()
}
