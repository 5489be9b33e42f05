//! MS-DOS date and time, the only timestamp every ZIP reader understands.

use time::OffsetDateTime;

/// A DOS date/time pair in UTC (DOS time has no zone; UTC keeps archives deterministic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DosDateTime {
    pub date: u16,
    pub time: u16,
}

impl DosDateTime {
    /// 1980-01-01 00:00, DOS time's epoch, used when an object has no usable date.
    pub const EPOCH: DosDateTime = DosDateTime {
        date: (1 << 5) | 1,
        time: 0,
    };

    /// Converts unix seconds; dates outside DOS's 1980–2107 range clamp to its ends.
    pub fn from_unix(secs: i64) -> Self {
        let Ok(t) = OffsetDateTime::from_unix_timestamp(secs) else {
            return Self::EPOCH;
        };
        let year = t.year();
        if year < 1980 {
            return Self::EPOCH;
        }
        if year > 2107 {
            return DosDateTime {
                date: (127 << 9) | (12 << 5) | 31,
                time: (23 << 11) | (59 << 5) | 29,
            };
        }
        let date =
            (((year - 1980) as u16) << 9) | ((u8::from(t.month()) as u16) << 5) | t.day() as u16;
        let time = ((t.hour() as u16) << 11) | ((t.minute() as u16) << 5) | (t.second() as u16 / 2);
        DosDateTime { date, time }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_a_known_instant() {
        // 2013-05-24T12:34:56Z
        let d = DosDateTime::from_unix(1_369_398_896);
        assert_eq!(d.date >> 9, 2013 - 1980);
        assert_eq!((d.date >> 5) & 0xF, 5);
        assert_eq!(d.date & 0x1F, 24);
        assert_eq!(d.time >> 11, 12);
        assert_eq!((d.time >> 5) & 0x3F, 34);
        assert_eq!((d.time & 0x1F) * 2, 56);
    }

    #[test]
    fn clamps_out_of_range() {
        assert_eq!(DosDateTime::from_unix(0), DosDateTime::EPOCH);
        assert_eq!(DosDateTime::from_unix(i64::MIN), DosDateTime::EPOCH);
        assert_eq!(DosDateTime::from_unix(10_000_000_000).date >> 9, 127);
    }
}
