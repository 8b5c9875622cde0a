//! Limits on the media people send (voice notes, audio files): the size check made before
//! anything is downloaded, and how sizes are written in replies. Sizes are decimal: 1 MB is
//! 1,000,000 bytes.

/// The default of `max_media_bytes`: 20 MB (20,000,000 bytes).
pub const DEFAULT_MAX_MEDIA_BYTES: u64 = 20_000_000;

/// Whether a size the platform announced is over `limit`. An unknown size is not: it is
/// checked while the file streams in.
pub fn over_limit(announced: Option<u64>, limit: u64) -> bool {
    announced.is_some_and(|size| size > limit)
}

/// A size for people, in decimal units with at most one decimal: `512 bytes`, `64 kB`,
/// `1.5 MB`, `2 GB`. `round_up` rounds the last decimal up instead of down, so that a file
/// just over a limit never reads as the limit itself.
pub fn human_size(bytes: u64, round_up: bool) -> String {
    const UNITS: [(u64, &str); 3] = [(1_000_000_000, "GB"), (1_000_000, "MB"), (1_000, "kB")];
    let Some(&(unit, name)) = UNITS.iter().find(|(unit, _)| bytes >= *unit) else {
        return if bytes == 1 { "1 byte".to_owned() } else { format!("{bytes} bytes") };
    };
    let scaled = u128::from(bytes) * 10;
    let unit = u128::from(unit);
    let tenths = if round_up { scaled.div_ceil(unit) } else { scaled / unit };
    match tenths % 10 {
        0 => format!("{} {name}", tenths / 10),
        fraction => format!("{}.{fraction} {name}", tenths / 10),
    }
}

/// The reply to a voice message over the limit: its size when known (announced, or as far
/// as it was read), and the limit.
pub fn too_large_text(size: Option<u64>, limit: u64) -> String {
    too_large_text_for("voice message", size, limit)
}

/// The reply to a file of the kind `what` (`voice message`, `image`) over the limit.
pub fn too_large_text_for(what: &str, size: Option<u64>, limit: u64) -> String {
    let limit_text = human_size(limit, false);
    match size.filter(|size| *size > limit) {
        Some(size) => format!("That {what} is {}; I can take files up to {limit_text}.", human_size(size, true)),
        None => format!("That {what} is too large; I can take files up to {limit_text}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn unknown_sizes_are_not_over_the_limit_yet() {
        assert!(!over_limit(None, 10));
        assert!(!over_limit(Some(10), 10));
        assert!(over_limit(Some(11), 10));
    }

    #[test]
    fn sizes_read_in_decimal_units() {
        assert_eq!(human_size(0, false), "0 bytes");
        assert_eq!(human_size(1, true), "1 byte");
        assert_eq!(human_size(999, false), "999 bytes");
        assert_eq!(human_size(64_000, false), "64 kB");
        assert_eq!(human_size(1_500_000, false), "1.5 MB");
        assert_eq!(human_size(DEFAULT_MAX_MEDIA_BYTES, false), "20 MB");
        assert_eq!(human_size(31_000_000, true), "31 MB");
        assert_eq!(human_size(20_000_001, true), "20.1 MB");
        assert_eq!(human_size(20_099_999, false), "20 MB");
        assert_eq!(human_size(u64::MAX, true), "18446744073.8 GB");
    }

    #[test]
    fn the_refusal_names_the_size_and_the_limit() {
        assert_eq!(
            too_large_text(Some(31_000_000), DEFAULT_MAX_MEDIA_BYTES),
            "That voice message is 31 MB; I can take files up to 20 MB."
        );
        assert_eq!(too_large_text(None, 64_000), "That voice message is too large; I can take files up to 64 kB.");
        assert_eq!(too_large_text(Some(5), 64_000), too_large_text(None, 64_000), "a size under the limit is no size");
    }

    proptest! {
        #[test]
        fn a_size_over_the_limit_never_reads_as_the_limit(limit in 1u64..10_000_000_000, extra in 1u64..1_000_000) {
            let size = limit + extra;
            prop_assert_ne!(human_size(size, true), human_size(limit, false));
        }
    }
}
