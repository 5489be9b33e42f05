//! Bounds guessed from names, for a folder with no subfolders to cut its listing by
//! ([`list_split`](super::list_split)): names that count up (`IMG_00001.jpg`, hashes,
//! dates) are read as numbers, and the listing so far says how many keys a step of them
//! holds, so the rest of the folder can be cut where the names would go on.
//!
//! Only a guess, as every bound is: ranges partition the keys whatever their bounds, so a
//! poor guess costs requests (a range past the folder's end lists one empty page), never a
//! key.

/// Where to cut a range with no subfolder to go by: it has listed `listed` keys from
/// `first` to `last`, of those `<= upto`, in pages of `page`. Its names are read as
/// counting up like numbers (in pages of 100, `IMG_00299` → `IMG_004`, `IMG_006`, …):
/// the places from where `first` and `last` part back to the last separator (or the
/// folder's name, `prefix` bytes) are a number in digits or letters, the listing so far
/// says how many keys one step of it holds, and the bounds go on from `last` in steps of
/// [`GUESS_PAGES`] pages. At most `room` bounds, in order; none when `first == last`.
///
/// A guess: a bound past the folder's last key costs one empty page, and the range that
/// holds the rest splits again once its own first page is in.
pub(crate) fn interpolated(
    prefix: usize,
    (first, last): (&str, &str),
    (listed, page): (usize, usize),
    upto: Option<&str>,
    room: usize,
) -> Vec<String> {
    let (f, l) = (first.as_bytes(), last.as_bytes());
    let parted = f.iter().zip(l).take_while(|(a, b)| a == b).count();
    if parted >= l.len() || parted < prefix || room == 0 {
        return Vec::new();
    }
    let class = match f.get(parted) {
        Some(&other) => Class::of_pair(other, l[parted]),
        None => Class::of(l[parted]),
    };
    let Some(class) = class else {
        return Vec::new();
    };
    // The number's places: back from where they part while each is a digit or letter.
    let place_class = |c: u8| match class.index(c) {
        Some(_) => Some(class),
        None => Class::of(c),
    };
    let from = (prefix..parted)
        .rev()
        .take_while(|&at| place_class(l[at]).is_some())
        .last()
        .unwrap_or(parted);
    let places: Vec<Class> = (from..=parted)
        .map(|at| place_class(l[at]).expect("a counting place"))
        .collect();
    let mut number: Vec<usize> = (from..=parted)
        .zip(&places)
        .map(|(at, c)| c.index(l[at]).expect("in its class"))
        .collect();
    // Keys one step of the last place holds, by the steps the listing has covered.
    let low = f.get(parted).and_then(|&c| class.index(c)).unwrap_or(0);
    let covered = (number[number.len() - 1] + 1).saturating_sub(low).max(1);
    let per_step = (listed / covered).max(1);
    let step = (GUESS_PAGES * page.max(1)).div_ceil(per_step);
    let mut out = Vec::new();
    while out.len() < room {
        if !add(&mut number, &places, step) {
            break;
        }
        let mut bound = last[..from].to_string();
        bound.extend(
            number
                .iter()
                .zip(&places)
                .map(|(&d, c)| c.chars()[d] as char),
        );
        if upto.is_some_and(|u| bound.as_str() >= u) {
            break;
        }
        out.push(bound);
    }
    out
}

/// Pages a range guessed by names is meant to hold. Each range lists one page more than
/// its keys (the one that finds it has passed its end), so ranges of one page would cost
/// twice the requests; longer ones fan a folder of tens of pages out more slowly (four
/// pages: 10 rounds for 20 pages, against 7 with two; BENCHMARKS.md).
const GUESS_PAGES: usize = 2;

/// Adds `step` to the last place of `number` (each place counting in its class); `false`
/// when it overflows the first place (the names cannot go that far).
fn add(number: &mut [usize], places: &[Class], step: usize) -> bool {
    let mut carry = step;
    for (d, c) in number.iter_mut().zip(places).rev() {
        let base = c.chars().len();
        let sum = *d + carry;
        *d = sum % base;
        carry = sum / base;
        if carry == 0 {
            return true;
        }
    }
    false
}

/// The characters a name's place counts in.
#[derive(Clone, Copy)]
enum Class {
    Digits,
    Lower,
    Upper,
    /// Digits then lower-case letters: hex, base 36.
    DigitsLower,
    DigitsUpper,
}

impl Class {
    fn of(c: u8) -> Option<Class> {
        match c {
            b'0'..=b'9' => Some(Class::Digits),
            b'a'..=b'z' => Some(Class::Lower),
            b'A'..=b'Z' => Some(Class::Upper),
            _ => None,
        }
    }

    fn of_pair(a: u8, b: u8) -> Option<Class> {
        use Class::*;
        match (Class::of(a)?, Class::of(b)?) {
            (Digits, Digits) => Some(Digits),
            (Lower, Lower) => Some(Lower),
            (Upper, Upper) => Some(Upper),
            (Digits, Lower) | (Lower, Digits) => Some(DigitsLower),
            (Digits, Upper) | (Upper, Digits) => Some(DigitsUpper),
            _ => None,
        }
    }

    /// The class's characters, in order.
    fn chars(self) -> &'static [u8] {
        match self {
            Class::Digits => b"0123456789",
            Class::Lower => b"abcdefghijklmnopqrstuvwxyz",
            Class::Upper => b"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            Class::DigitsLower => b"0123456789abcdefghijklmnopqrstuvwxyz",
            Class::DigitsUpper => b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        }
    }

    fn index(self, c: u8) -> Option<usize> {
        self.chars().iter().position(|&x| x == c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_count_up_are_cut_where_they_would_go_on() {
        // Pages of 100 keys; `listed` keys from `first` to `last`.
        let cut = |first, last, listed, upto, room| {
            interpolated(2, (first, last), (listed, 100), upto, room)
        };
        // Three pages of `d/IMG_00000` … `d/IMG_00299`: a hundred keys a step of the
        // hundreds, so steps of two hundreds (two pages), carrying into the thousands.
        assert_eq!(
            cut("d/IMG_00000", "d/IMG_00299", 300, None, 4),
            ["d/IMG_004", "d/IMG_006", "d/IMG_008", "d/IMG_010"]
        );
        // Ten keys a step of the tens: steps of twenty tens.
        assert_eq!(
            cut("d/obj-09000", "d/obj-09099", 100, None, 2),
            ["d/obj-0929", "d/obj-0949"]
        );
        // Never up to the range's end, nor past the most the places can count to.
        assert_eq!(
            cut("d/IMG_00000", "d/IMG_00299", 300, Some("d/IMG_009"), 16),
            ["d/IMG_004", "d/IMG_006", "d/IMG_008"]
        );
        assert_eq!(
            cut("d/IMG_97000", "d/IMG_97999", 1000, None, 16),
            (981..=999)
                .step_by(2)
                .map(|n| format!("d/IMG_{n}"))
                .collect::<Vec<_>>()
        );
        assert!(cut("d/0", "d/9", 10, None, 16).is_empty());
        // Nor into the folder's name, nor past a separator.
        assert_eq!(cut("d/IMG_0001", "d/IMG_1000", 1000, None, 16).len(), 8);
        assert!(cut("d/a-", "d/a_", 100, None, 16).is_empty());
        // Where they part, digits and letters count as one (hex, base 36), upper or lower.
        assert_eq!(cut("d/0a", "d/c3", 5200, None, 3), ["d/d", "d/e", "d/f"]);
        assert_eq!(cut("d/A", "d/Y", 10_000, None, 16), ["d/Z"]);
        assert!(
            cut("d/A", "d/Y", 400, None, 16).is_empty(),
            "two pages on: past Z"
        );
        // A name that only gets longer (`first` a prefix of `last`) counts on past it.
        assert_eq!(cut("d/a", "d/a5", 2400, None, 2), ["d/a6", "d/a7"]);
        // Not a digit or a letter where they part, or a mix of cases: no guess.
        assert!(cut("d/aB", "d/ab", 100, None, 16).is_empty());
        assert!(cut("d/x", "d/中", 100, None, 16).is_empty());
        assert_eq!(cut("d/中1", "d/中2", 800, None, 16).len(), 7);
        // Every bound is past `last` and before `upto`, in order.
        for (first, last, upto) in [
            ("d/a0", "d/a9z", Some("d/b5")),
            ("d/2024-01-01", "d/2024-03-17", None),
            ("d/k", "d/kzzz", Some("d/l")),
            ("d/0000", "d/0zzz", None),
            ("d/0000", "d/0Zz9", None),
        ] {
            for listed in [1, 50, 100, 1000, 100_000] {
                let b = cut(first, last, listed, upto, 40);
                assert!(b.iter().all(|x| x.as_str() > last), "{b:?}");
                assert!(
                    b.iter().all(|x| upto.is_none_or(|u| x.as_str() < u)),
                    "{b:?}"
                );
                assert!(b.windows(2).all(|w| w[0] < w[1]), "{b:?}");
            }
        }
    }
}
