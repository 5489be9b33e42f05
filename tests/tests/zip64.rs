//! ZIP64 end to end, through the component on the embedded store: one object over 4 GiB (a
//! sparse file placed in the store's folder, so it costs no disk) and a folder of 70,000
//! objects. The archives are read where the store keeps them (no 4 GiB download).

use std::io::{Seek, SeekFrom, Write};
use std::process::Command;

use zip_oss_tests::readers::{check_uploaded_archive, manifest_under, no_descriptors};
use zip_oss_tests::Env;

const GIB: u64 = 1 << 30;

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn an_object_over_4_gib_and_offsets_past_4_gib() {
    // Read as one stream: s3s-fs has no stored ETag for a file written behind its back and
    // hashes the whole 4 GiB on every GET, which would be once per 2 MiB range.
    let env = Env::in_memory_with_settings(|s| s.read_ranges = Some(1));
    let dir = env.root().join("bkt/big");
    std::fs::create_dir_all(&dir).unwrap();
    // 4 GiB + 3 MiB, mostly holes, with data at the start, across the 4 GiB line and at the end.
    let huge = dir.join("huge.bin");
    let mut f = std::fs::File::create(&huge).unwrap();
    f.set_len(4 * GIB + (3 << 20)).unwrap();
    for at in [0, 4 * GIB - 10, 4 * GIB + (3 << 20) - 16] {
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(b"zip-oss ZIP64 marker").unwrap();
    }
    drop(f);
    let huge_len = std::fs::metadata(&huge).unwrap().len();
    let total = huge_len + 28;
    std::fs::write(dir.join("zz-after.txt"), b"this entry starts past 4 GiB").unwrap();

    // Carried, as one stream: with copy, the host would hash the object and the store copy
    // it in 400 parts, each pinned to an ETag s3s-fs computes by hashing the 4 GiB again.
    let answer = env.post(
        r#"{"bucket":"bkt","source-dir":"big/","dest-file":"output/z64.zip","copy":false}"#,
        true,
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    let summary = answer.json();
    let zip = env.root().join("bkt/output/z64.zip");
    assert_eq!(
        std::fs::metadata(&zip).unwrap().len(),
        summary["archive_bytes"].as_u64().unwrap()
    );
    assert!(summary["archive_bytes"].as_u64().unwrap() > 4 * GIB);

    // Python: sizes and CRC-32s against the source files, computed independently.
    let script = r#"
import sys, zipfile, zlib
z = zipfile.ZipFile(sys.argv[1])
for name, path in (("huge.bin", sys.argv[2]), ("zz-after.txt", sys.argv[3])):
    info = z.getinfo(name)
    crc, size = 0, 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            crc, size = zlib.crc32(chunk, crc), size + len(chunk)
    assert (info.file_size, info.CRC) == (size, crc), (name, info.file_size, size, info.CRC, crc)
assert z.read("zz-after.txt") == open(sys.argv[3], "rb").read()
assert z.getinfo("zz-after.txt").header_offset > 4 << 30
print("ok")
"#;
    run(Command::new("python3")
        .args(["-c", script])
        .arg(&zip)
        .arg(&huge)
        .arg(dir.join("zz-after.txt")));
    // Every reader reads all data and checks every CRC.
    run(Command::new("unzip").arg("-tq").arg(&zip));
    run(Command::new("7zz").arg("t").arg(&zip));
    let out = Command::new("sh")
        .arg("-c")
        .arg("bsdtar -xOf \"$0\" | wc -c")
        .arg(&zip)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        total.to_string(),
        "bsdtar streamed every byte"
    );
    let java = r#"
import java.util.zip.*; import java.io.*;
public class Z64 { public static void main(String[] a) throws Exception {
  try (ZipFile z = new ZipFile(a[0])) { long total = 0; byte[] buf = new byte[1 << 20];
    for (var en = z.entries(); en.hasMoreElements();) { ZipEntry e = en.nextElement();
      CRC32 crc = new CRC32(); long n = 0;
      try (InputStream in = z.getInputStream(e)) { int r; while ((r = in.read(buf)) > 0) { crc.update(buf, 0, r); n += r; } }
      if (n != e.getSize() || crc.getValue() != e.getCrc()) throw new Exception("bad " + e.getName());
      total += n; }
    System.out.println("ok " + total); }
  // Front to back: the local headers' ZIP64 sizes and CRC-32s alone.
  try (ZipInputStream z = new ZipInputStream(new BufferedInputStream(new FileInputStream(a[0]), 1 << 20))) {
    long total = 0; byte[] buf = new byte[1 << 20]; ZipEntry e;
    while ((e = z.getNextEntry()) != null) { CRC32 crc = new CRC32(); long n = 0; int r;
      while ((r = z.read(buf)) > 0) { crc.update(buf, 0, r); n += r; }
      if (n != e.getSize() || crc.getValue() != e.getCrc()) throw new Exception("bad stream " + e.getName());
      total += n; }
    System.out.println("stream ok " + total); } } }
"#;
    let java_file = env.dir.path().join("Z64.java");
    std::fs::write(&java_file, java).unwrap();
    let out = run(Command::new("java").arg(&java_file).arg(&zip));
    assert!(out.contains(&format!("ok {total}")), "{out}");
    assert!(out.contains(&format!("stream ok {total}")), "{out}");
    // bsdtar from a pipe, which cannot seek to the central directory; no descriptors.
    let out = Command::new("sh")
        .arg("-c")
        .arg("bsdtar -xOf - < \"$0\" | wc -c")
        .arg(&zip)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        total.to_string()
    );
    no_descriptors(&zip);
}

#[test]
fn seventy_thousand_objects() {
    let env = Env::in_memory();
    let mut files = Vec::with_capacity(70_000);
    for i in 0..70_000 {
        files.push((
            format!("many/d{:02}/f{i:05}.txt", i % 50),
            format!("{i}\n").into_bytes(),
        ));
    }
    let paths = env.put_files(&files);
    let answer = env.post(
        r#"{"bucket":"bkt","source-dir":"many/","dest-file":"output/many.zip"}"#,
        true,
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["entries"], 70_000);
    let zip = env.root().join("bkt/output/many.zip");
    let manifest = manifest_under(&paths, "many/");
    check_uploaded_archive(&zip, &manifest);
}
