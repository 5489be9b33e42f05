//! `--scenario copy`: copy, don't carry. The same large objects packed three times into
//! other keys: first with records on (no record yet: the host hashes each large object,
//! the store copies it, and a record of each is written), then again (the store copies
//! what the records allow, nothing hashed), then with copy off, the reference. Both
//! copied archives must be the reference's byte for byte.

use std::path::Path;

use anyhow::bail;

use super::{measure_into, Scenario, BUCKET, HEADER};

const RECORDS: &str = ".zip-oss/crc/";

pub fn run(exe: &Path, endpoint: &str, dir: &Path, s: &Scenario) -> anyhow::Result<()> {
    let records = ["--crc-records", RECORDS];
    println!("{HEADER}");
    let first = measure_into(exe, endpoint, s, "out/copy-first.zip", &records)?;
    println!(
        "{}",
        first.row.replacen(
            &s.name,
            "first pack: hashed by the host, copied, records written",
            1
        )
    );
    let second = measure_into(exe, endpoint, s, "out/copy-second.zip", &records)?;
    println!(
        "{}",
        second
            .row
            .replacen(&s.name, "second pack: copied by the records", 1)
    );
    let off = measure_into(exe, endpoint, s, "out/copy-off.zip", &["--copy", "false"])?;
    println!("{}", off.row.replacen(&s.name, "copy off", 1));
    let bucket = dir.join(BUCKET).join("out");
    let reference = std::fs::read(bucket.join("copy-off.zip"))?;
    for copied in ["copy-first.zip", "copy-second.zip"] {
        if std::fs::read(bucket.join(copied))? != reference {
            bail!("{copied} differs from the archive packed with copy off");
        }
    }
    let total = second.mib_read + second.mib_copied;
    println!();
    println!(
        "{}: the second pack carried {:.0} MiB ({:.1}%) and had the store copy {:.0} MiB; \
         {:.2} s and {:.2} CPU-s against {:.2} s and {:.2} CPU-s with copy off; the first \
         (hashed) {:.0} MiB carried, {:.2} s and {:.2} CPU-s; the archives are identical.",
        s.name,
        second.mib_read,
        100.0 * second.mib_read / total,
        second.mib_copied,
        second.secs,
        second.cpu_s,
        off.secs,
        off.cpu_s,
        first.mib_read,
        first.secs,
        first.cpu_s,
    );
    Ok(())
}
