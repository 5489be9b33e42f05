//! Part sizing: parts must be at least 5 MiB (S3; OSS allows 100 KB) except the last,
//! at most 5 GiB, and at most 10,000 of them, so the part size grows with the archive.

/// Smallest part we cut: S3's 5 MiB minimum. A pack holds up to seven parts (four
/// uploading, one full, one filling, one holding an entry's header until its CRC-32), so
/// this is what brings a 1 GiB pack to ~64 MiB (98–100 with 8 MiB parts and the old
/// cache; BENCHMARKS.md).
pub const MIN_PART_SIZE: u64 = 5 << 20;
/// S3 and OSS both cap a part at 5 GiB.
pub const MAX_PART_SIZE: u64 = 5 << 30;
/// S3 and OSS both allow at most 10,000 parts.
pub const MAX_PARTS: u64 = 10_000;

/// Part size for an archive of at most `archive_bound` bytes: the smallest whole
/// number of MiB, not below `MIN_PART_SIZE`, that fits it in `MAX_PARTS` parts.
/// `None` when even 5 GiB parts cannot hold it (48.8 TiB).
pub fn part_size(archive_bound: u64) -> Option<u64> {
    part_size_at_least(archive_bound, MIN_PART_SIZE)
}

/// As [`part_size`], with another smallest part (tests use small parts to get many).
/// The minimum is kept as it is: rounded up to a whole MiB, the simulation's 64 KiB parts
/// were 1 MiB, and its objects never spanned more than two.
pub fn part_size_at_least(archive_bound: u64, min_part: u64) -> Option<u64> {
    const MIB: u64 = 1 << 20;
    let per_part = archive_bound.div_ceil(MAX_PARTS);
    let size = match per_part <= min_part {
        true => min_part,
        false => per_part.div_ceil(MIB).saturating_mul(MIB),
    };
    (size <= MAX_PART_SIZE).then_some(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_archives_use_the_minimum() {
        assert_eq!(part_size(1024), Some(MIN_PART_SIZE));
        assert_eq!(part_size(1 << 30), Some(MIN_PART_SIZE));
    }

    #[test]
    fn a_terabyte_fits_in_ten_thousand_parts() {
        let tib = 1u64 << 40;
        let size = part_size(tib).unwrap();
        assert_eq!(size, 105 << 20);
        assert!(tib.div_ceil(size) <= MAX_PARTS);
        assert!(
            tib.div_ceil(size - (1 << 20)) > MAX_PARTS,
            "not the smallest"
        );
    }

    #[test]
    fn beyond_the_limit_is_refused() {
        assert!(part_size(MAX_PART_SIZE * MAX_PARTS).is_some());
        assert_eq!(part_size(MAX_PART_SIZE * MAX_PARTS + 1), None);
    }
}
