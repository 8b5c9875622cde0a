//! Other spellings of an HTTP request path, for authorization tests: percent-encoded letters
//! (upper- and lower-case escapes), changed letter case, encoded and doubled slashes, a
//! trailing slash, dot segments. Whatever a router makes of them, none may reach a guarded
//! route without the token.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

/// Every route of the API that needs the token, as (method, path, body): each path is one the
/// router matches, the body of the config update is one an attacker would send.
pub const GUARDED_ROUTES: [(&str, &str, &str); 12] = [
    ("GET", "/api/bots/status", ""),
    ("GET", "/api/bots/config", ""),
    ("PUT", "/api/bots/config", r#"{"brain":{"kind":"command","command":"/bin/sh"}}"#),
    ("GET", "/api/bots/pairing", ""),
    ("GET", "/api/bots/pairing/count", ""),
    ("POST", "/api/bots/pairing/999/approve", ""),
    ("POST", "/api/bots/pairing/999/deny", ""),
    ("DELETE", "/api/bots/pairing/telegram/someone", ""),
    ("POST", "/api/bots/matrix/start", ""),
    ("POST", "/api/bots/matrix/stop", ""),
    ("POST", "/api/bots/matrix/test", ""),
    ("GET", "/metrics", ""),
];

/// One spelling of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathVariant {
    /// The request target as sent, byte for byte.
    pub raw: String,
    /// Whether it only percent-encodes characters a router decodes, so that it must reach
    /// the same route as the plain path.
    pub same_route: bool,
}

/// How one character of the path is written.
#[derive(Debug, Clone, Copy)]
enum Spelling {
    Plain,
    UpperEscape,
    LowerEscape,
    OtherCase,
}

/// A change to the path's shape (never a route a router must match).
#[derive(Debug, Clone, Copy)]
enum Shape {
    Same,
    TrailingSlash,
    DoubledSlash,
    EncodedSlash,
    DotSegment,
    DotDotSegment,
}

fn escape(byte: u8, upper: bool) -> String {
    if upper { format!("%{byte:02X}") } else { format!("%{byte:02x}") }
}

fn spell(path: &str, spellings: &[Spelling], shape: Shape, cut: usize) -> PathVariant {
    let mut raw = String::new();
    let mut same_route = matches!(shape, Shape::Same);
    for (i, byte) in path.bytes().enumerate() {
        let spelling = spellings.get(i).copied().unwrap_or(Spelling::Plain);
        match (byte, spelling) {
            (b'/', _) | (_, Spelling::Plain) => raw.push(char::from(byte)),
            (_, Spelling::UpperEscape) => raw.push_str(&escape(byte, true)),
            (_, Spelling::LowerEscape) => raw.push_str(&escape(byte, false)),
            (_, Spelling::OtherCase) if byte.is_ascii_alphabetic() => {
                same_route = false;
                let swapped =
                    if byte.is_ascii_lowercase() { byte.to_ascii_uppercase() } else { byte.to_ascii_lowercase() };
                raw.push(char::from(swapped));
            }
            (_, Spelling::OtherCase) => raw.push(char::from(byte)),
        }
    }
    // The shape changes one of the path's inner slashes (the `cut`-th, counted from the first
    // after the leading one) or its end.
    let slashes: Vec<usize> = raw.match_indices('/').map(|(i, _)| i).skip(1).collect();
    let at = slashes.get(cut % slashes.len().max(1)).copied();
    match (shape, at) {
        (Shape::Same, _) => {}
        (Shape::TrailingSlash, _) => raw.push('/'),
        (Shape::DoubledSlash, Some(at)) => raw.insert(at, '/'),
        (Shape::EncodedSlash, Some(at)) => {
            raw.replace_range(at..=at, if cut.is_multiple_of(2) { "%2F" } else { "%2f" })
        }
        (Shape::DotSegment, Some(at)) => raw.insert_str(at, "/."),
        (Shape::DotDotSegment, Some(at)) => raw.insert_str(at, "/x/.."),
        (_, None) => raw.push_str("/."),
    }
    PathVariant { raw, same_route }
}

/// Generated spellings of `path` (ASCII).
pub fn variants(path: &'static str) -> impl Strategy<Value = PathVariant> {
    let spelling = prop_oneof![
        4 => Just(Spelling::Plain),
        2 => Just(Spelling::UpperEscape),
        2 => Just(Spelling::LowerEscape),
        1 => Just(Spelling::OtherCase),
    ];
    let shape = prop_oneof![
        4 => Just(Shape::Same),
        1 => Just(Shape::TrailingSlash),
        1 => Just(Shape::DoubledSlash),
        1 => Just(Shape::EncodedSlash),
        1 => Just(Shape::DotSegment),
        1 => Just(Shape::DotDotSegment),
    ];
    (proptest::collection::vec(spelling, path.len()), shape, 0usize..8)
        .prop_map(move |(spellings, shape, cut)| spell(path, &spellings, shape, cut))
}

/// `count` generated spellings of `path`, the same on every run (a fixed seed), plus the
/// hand-written ones every run must include: each letter escaped, the first letter escaped,
/// upper-case, doubled, trailing and encoded slashes, dot segments.
pub fn sample(path: &'static str, count: usize) -> Vec<PathVariant> {
    let every_letter: String =
        path.bytes().map(|b| if b == b'/' { "/".to_owned() } else { escape(b, b.is_multiple_of(2)) }).collect();
    let first_letter = format!("/%{:02X}{}", path.as_bytes()[1], &path[2..]);
    let mut out = vec![
        PathVariant { raw: every_letter, same_route: true },
        PathVariant { raw: first_letter, same_route: true },
        PathVariant { raw: path.to_ascii_uppercase(), same_route: false },
        PathVariant { raw: format!("/{path}"), same_route: false },
        PathVariant { raw: path.replace('/', "%2F"), same_route: false },
        PathVariant { raw: format!("/.{path}"), same_route: false },
        PathVariant { raw: format!("/x/..{path}"), same_route: false },
    ];
    for shape in
        [Shape::TrailingSlash, Shape::DoubledSlash, Shape::EncodedSlash, Shape::DotSegment, Shape::DotDotSegment]
    {
        out.push(spell(path, &[], shape, 0));
    }
    let mut runner = TestRunner::deterministic();
    let strategy = variants(path);
    for _ in 0..count {
        if let Ok(tree) = strategy.new_tree(&mut runner) {
            out.push(tree.current());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_letters_keeps_the_route_and_shapes_do_not() {
        let all = sample("/api/bots/status", 200);
        assert!(all.iter().any(|v| v.raw == "/%61%70%69/%62%6F%74%73/%73%74%61%74%75%73" || v.raw.starts_with("/%")));
        assert!(all.iter().filter(|v| v.same_route).count() > 20, "enough variants reach the route");
        assert!(all.iter().filter(|v| !v.same_route).count() > 20, "enough variants change the shape");
        for v in &all {
            if v.same_route {
                assert_eq!(decode(&v.raw), "/api/bots/status", "{v:?}");
            } else {
                assert_ne!(v.raw, "/api/bots/status", "{v:?}");
            }
        }
    }

    fn decode(raw: &str) -> String {
        let bytes = raw.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(&raw[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }
}
