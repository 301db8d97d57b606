//! Just enough DER to read attributes of a certificate's subject (its common name, the name it
//! was issued for, and its organizational unit, the role it was issued for), so a process knows
//! who its peer is without a full X.509 parser. Malformed input gives `None`, never a panic.

/// The tag of the optional `[0] EXPLICIT Version` field that starts a `TBSCertificate`.
const VERSION_TAG: u8 = 0xa0;

/// The object identifier 2.5.4.3 (`id-at-commonName`), DER-encoded.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// The object identifier 2.5.4.10 (`id-at-organizationName`), DER-encoded.
const ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0a];

/// The object identifier 2.5.4.11 (`id-at-organizationalUnitName`), DER-encoded.
const ORGANIZATIONAL_UNIT: &[u8] = &[0x55, 0x04, 0x0b];

/// The first common name in the subject of a DER-encoded certificate.
pub(crate) fn common_name(certificate: &[u8]) -> Option<String> {
    subject_attribute(certificate, COMMON_NAME)
}

/// The first organization in the subject of a DER-encoded certificate: the tenant it was issued
/// for.
pub(crate) fn organization(certificate: &[u8]) -> Option<String> {
    subject_attribute(certificate, ORGANIZATION)
}

/// The first organizational unit in the subject of a DER-encoded certificate.
pub(crate) fn organizational_unit(certificate: &[u8]) -> Option<String> {
    subject_attribute(certificate, ORGANIZATIONAL_UNIT)
}

/// The serial number of a DER-encoded certificate: the contents of its INTEGER.
pub(crate) fn serial_number(certificate: &[u8]) -> Option<Vec<u8>> {
    let (_, certificate) = elements(certificate).next()?;
    let (_, tbs) = elements(certificate).next()?;
    let mut fields = elements(tbs).peekable();
    fields.next_if(|&(tag, _)| tag == VERSION_TAG);
    let (tag, serial) = fields.next()?;
    (tag == INTEGER).then(|| serial.to_vec())
}

/// The tag of a DER INTEGER.
const INTEGER: u8 = 0x02;

/// The first value of the attribute `wanted` (a DER-encoded object identifier) in the subject of
/// a DER-encoded certificate.
fn subject_attribute(certificate: &[u8], wanted: &[u8]) -> Option<String> {
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
        if oid == wanted { String::from_utf8(value.to_vec()).ok() } else { None }
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
        let ca = crate::certs::EphemeralCa::new().unwrap();
        let node = ca.identity("node", crate::Role::Executor).unwrap();
        let der = node.certified_key();
        let der = der.end_entity_cert().unwrap();
        assert_eq!(common_name(der).as_deref(), Some("node"));
        assert_eq!(organizational_unit(der).as_deref(), Some("executor"));
    }

    #[test]
    fn reads_the_serial_number() {
        let mut params = rcgen::CertificateParams::new(["x".to_owned()]).unwrap();
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x12, 0x34, 0x56]));
        let der = params.self_signed(&rcgen::KeyPair::generate().unwrap()).unwrap().der().to_vec();
        assert_eq!(serial_number(&der), Some(vec![0x12, 0x34, 0x56]));
        assert_eq!(serial_number(&der[..20]), None);
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
            let _ = (common_name(&damaged), serial_number(&damaged));
        }
        assert_eq!(common_name(&[0x30, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9]), None);
    }
}
