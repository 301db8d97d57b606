//! Just enough DER to read a certificate's subject common name, so a process can name its peer
//! in logs without a full X.509 parser. Malformed input gives `None`, never a panic.

/// The tag of the optional `[0] EXPLICIT Version` field that starts a `TBSCertificate`.
const VERSION_TAG: u8 = 0xa0;

/// The object identifier 2.5.4.3 (`id-at-commonName`), DER-encoded.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// The first common name in the subject of a DER-encoded certificate.
pub(crate) fn common_name(certificate: &[u8]) -> Option<String> {
    let (_, certificate) = elements(certificate).next()?;
    let (_, tbs) = elements(certificate).next()?;
    let mut fields = elements(tbs).peekable();
    fields.next_if(|&(tag, _)| tag == VERSION_TAG);
    // serialNumber, signature, issuer, validity, then subject.
    let (_, subject) = fields.nth(4)?;
    elements(subject).flat_map(|(_, names)| elements(names)).find_map(|(_, attribute)| {
        let mut parts = elements(attribute);
        let (_, oid) = parts.next()?;
        let (_, value) = parts.next()?;
        if oid == COMMON_NAME { String::from_utf8(value.to_vec()).ok() } else { None }
    })
}

/// The `(tag, contents)` of the DER elements that follow each other in `input`, up to the first
/// malformed one.
fn elements(mut input: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let (tag, contents, rest) = element(input)?;
        input = rest;
        Some((tag, contents))
    })
}

/// Splits the first DER element off `input`: its tag, its contents and what follows it.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let (bytes, rest) = rest.split_at_checked(usize::from(first & 0x7f))?;
        if bytes.len() > size_of::<usize>() {
            return None;
        }
        (bytes.iter().fold(0, |len, &byte| len << 8 | usize::from(byte)), rest)
    };
    let (contents, rest) = rest.split_at_checked(len)?;
    Some((tag, contents, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_subject_not_the_issuer() {
        let (node, client) = crate::Identity::throwaway().unwrap();
        assert_eq!(node.name().as_deref(), Some("node"));
        assert_eq!(client.name().as_deref(), Some("client"));
    }

    #[test]
    fn damaged_certificates_never_panic() {
        let der = rcgen::generate_simple_self_signed(["x".to_owned()]).unwrap().cert.der().to_vec();
        assert_eq!(common_name(&der).as_deref(), Some("rcgen self signed cert"));
        for cut in 0..der.len() {
            assert_eq!(common_name(&der[..cut]), None);
        }
        for at in 0..der.len() {
            let mut damaged = der.clone();
            damaged[at] ^= 0xff;
            let _ = common_name(&damaged);
        }
        assert_eq!(common_name(&[0x30, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9]), None);
    }
}
