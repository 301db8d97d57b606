//! A small glob matcher for object paths.
//!
//! `*` matches any run of characters and `?` one character, neither crossing `/`; `[abc]`,
//! `[a-z]` and `[!a-z]` (or `[^a-z]`) match one character of (or not of) a class; a `[` without
//! a closing `]` is an ordinary character. Like a shell that hides dot files, a segment whose
//! pattern starts with a wildcard or class never matches a name starting with `_` or `.`, so
//! `out/*` skips `out/_SUCCESS`; write `out/_*` to match those explicitly.

/// Whether `text` contains glob syntax.
pub(crate) fn is_glob(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

/// The longest leading run of whole segments of `pattern` that contain no glob syntax.
pub(crate) fn literal_prefix(pattern: &str) -> &str {
    let mut end = 0;
    for (index, segment) in pattern.split('/').enumerate() {
        if is_glob(segment) {
            break;
        }
        end = if index == 0 { segment.len() } else { end + 1 + segment.len() };
    }
    &pattern[..end]
}

/// Whether the `/`-separated `path` matches `pattern` segment by segment.
pub(crate) fn matches(pattern: &str, path: &str) -> bool {
    let mut patterns = pattern.split('/');
    let mut names = path.split('/');
    loop {
        match (patterns.next(), names.next()) {
            (None, None) => return true,
            (Some(pattern), Some(name)) if segment_matches(pattern, name) => {}
            _ => return false,
        }
    }
}

fn segment_matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    let hidden = matches!(name.first(), Some('_' | '.'));
    let wild_start = matches!(pattern.first(), Some('*' | '?')) || class_at(&pattern, 0).is_some();
    if hidden && wild_start {
        return false;
    }
    wildcard_match(&pattern, &name)
}

/// Classic iterative wildcard matching with backtracking to the last `*`.
fn wildcard_match(pattern: &[char], name: &[char]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = match pattern.get(p) {
            Some('*') => {
                star = Some((p, n));
                p += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => match class_at(pattern, p) {
                Some(class) => class.matches(name[n]).then_some(class.len),
                None => (name[n] == '[').then_some(1),
            },
            Some(&literal) => (literal == name[n]).then_some(1),
            None => None,
        };
        match (step, star) {
            (Some(len), _) => {
                p += len;
                n += 1;
            }
            (None, Some((star_p, star_n))) => {
                p = star_p + 1;
                n = star_n + 1;
                star = Some((star_p, star_n + 1));
            }
            (None, None) => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// A `[...]` character class.
struct Class<'a> {
    negated: bool,
    body: &'a [char],
    /// Pattern characters the class takes, brackets included.
    len: usize,
}

impl Class<'_> {
    fn matches(&self, c: char) -> bool {
        let mut found = false;
        let mut i = 0;
        while i < self.body.len() {
            if i + 2 < self.body.len() && self.body[i + 1] == '-' {
                found |= (self.body[i]..=self.body[i + 2]).contains(&c);
                i += 3;
            } else {
                found |= self.body[i] == c;
                i += 1;
            }
        }
        found != self.negated
    }
}

/// The class starting at `pattern[start]`, if that is a `[` with a closing `]`. A `]` right
/// after the opening `[` (or `[!`) belongs to the class.
fn class_at(pattern: &[char], start: usize) -> Option<Class<'_>> {
    if pattern.get(start) != Some(&'[') {
        return None;
    }
    let negated = matches!(pattern.get(start + 1), Some('!' | '^'));
    let body_start = start + 1 + usize::from(negated);
    let close = (body_start + 1..pattern.len()).find(|&i| pattern[i] == ']')?;
    Some(Class { negated, body: &pattern[body_start..close], len: close + 1 - start })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_glob_syntax() {
        assert!(is_glob("in/*.csv"));
        assert!(is_glob("in/part-?"));
        assert!(is_glob("in/[ab]"));
        assert!(!is_glob("in/data.csv"));
    }

    #[test]
    fn literal_prefix_stops_before_the_first_glob_segment() {
        assert_eq!(literal_prefix("data/in/*.csv"), "data/in");
        assert_eq!(literal_prefix("data/2024-*/x.csv"), "data");
        assert_eq!(literal_prefix("*.csv"), "");
        assert_eq!(literal_prefix("a/b"), "a/b");
    }

    #[test]
    fn star_and_question_mark_stay_within_a_segment() {
        assert!(matches("in/*.csv", "in/a.csv"));
        assert!(!matches("in/*.csv", "in/.csv.csv"));
        assert!(matches("in/*", "in/a.csv"));
        assert!(!matches("in/*", "in/sub/a.csv"));
        assert!(matches("in/*/*", "in/sub/a.csv"));
        assert!(matches("in/part-??", "in/part-01"));
        assert!(!matches("in/part-??", "in/part-1"));
        assert!(matches("in/a*b*c", "in/aXXbYYbc"));
        assert!(!matches("in/a*b*c", "in/aXXbYYb"));
        assert!(matches("in/**", "in/x"));
        assert!(!matches("in/*", "in"));
    }

    #[test]
    fn classes_ranges_and_negation() {
        assert!(matches("p-[0-3].txt", "p-2.txt"));
        assert!(!matches("p-[0-3].txt", "p-7.txt"));
        assert!(matches("p-[!0-3].txt", "p-7.txt"));
        assert!(matches("p-[^0-3].txt", "p-x.txt"));
        assert!(!matches("p-[!0-3].txt", "p-1.txt"));
        assert!(matches("[ct]sv", "csv"));
        assert!(matches("a[]]b", "a]b"));
        assert!(matches("a[b", "a[b"), "an unclosed bracket is literal");
    }

    #[test]
    fn wildcards_do_not_reveal_hidden_names() {
        assert!(!matches("out/*", "out/_SUCCESS"));
        assert!(!matches("out/?tmp", "out/.tmp"));
        assert!(!matches("*/x", "_temporary/x"));
        assert!(matches("out/_*", "out/_SUCCESS"));
        assert!(matches("out/a*", "out/a_b"));
    }
}
