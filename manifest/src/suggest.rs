//! "Did you mean …?": the known name closest to a misspelt one.

/// The candidate closest to `name`, if one is close enough to be a likely typo of it: the same
/// but for case, at most one edit (`strsim::damerau_levenshtein`) in four characters, or a prefix
/// either way (`temp` of `temperature`).
pub(crate) fn closest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .map(|candidate| (strsim::damerau_levenshtein(&lower, &candidate.to_lowercase()), candidate))
        .filter(|&(distance, candidate)| {
            distance <= name.chars().count().max(4) / 4
                || candidate.starts_with(name)
                || name.starts_with(candidate)
        })
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_close_names_only() {
        let fields = ["station", "temperature"];
        assert_eq!(closest("temp", fields), Some("temperature"));
        assert_eq!(closest("Temperature", fields), Some("temperature"));
        assert_eq!(closest("statoin", fields), Some("station"));
        assert_eq!(closest("humidity", fields), None);
        assert_eq!(closest("x", fields), None);
    }
}
