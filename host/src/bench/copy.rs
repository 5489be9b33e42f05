//! `--scenario copy`: copy, don't carry. The same large objects packed three times into
//! other keys: first with records on (everything read, a record of each object written),
//! then again (the store copies what the records allow), then with copy off, the
//! reference. The copied archive must be the reference's byte for byte.

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
        first
            .row
            .replacen(&s.name, "first pack, records written", 1)
    );
    let second = measure_into(exe, endpoint, s, "out/copy-second.zip", &records)?;
    println!("{}", second.row.replacen(&s.name, "second pack, copied", 1));
    let off = measure_into(exe, endpoint, s, "out/copy-off.zip", &["--copy", "false"])?;
    println!("{}", off.row.replacen(&s.name, "copy off", 1));
    let bucket = dir.join(BUCKET).join("out");
    let same = std::fs::read(bucket.join("copy-second.zip"))?
        == std::fs::read(bucket.join("copy-off.zip"))?;
    if !same {
        bail!("the copied archive differs from the one packed with copy off");
    }
    let total = second.mib_read + second.mib_copied;
    println!();
    println!(
        "{}: the second pack carried {:.0} MiB ({:.1}%) and had the store copy {:.0} MiB; \
         {:.2} s and {:.2} CPU-s against {:.2} s and {:.2} CPU-s with copy off; the \
         archives are identical.",
        s.name,
        second.mib_read,
        100.0 * second.mib_read / total,
        second.mib_copied,
        second.secs,
        second.cpu_s,
        off.secs,
        off.cpu_s,
    );
    Ok(())
}
