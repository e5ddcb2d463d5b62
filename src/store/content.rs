//! A message's stored content: its envelope and its sealed form as one
//! value of the `envelopes` tree (schema 3), so a message's content costs
//! one sled write, not two.
//!
//! Layout: the byte `0x01`, the envelope's length as a big-endian `u32`,
//! the envelope, then the form sealed with the storage key, or nothing
//! once the form is erased. An envelope is a tagged COSE structure and
//! never starts with `0x01`, so a bare envelope (schema 2, whose forms
//! were in the `forms` tree) is told apart from a joined value.

use super::StoreError;

const JOINED: u8 = 0x01;
const HEAD: usize = 5;

/// The stored value for `envelope` and `sealed_form` (empty: no form).
pub(super) fn join(envelope: &[u8], sealed_form: &[u8]) -> Result<Vec<u8>, StoreError> {
    let len = u32::try_from(envelope.len())
        .map_err(|_| StoreError::Io("envelope too large to store".into()))?;
    let mut out = Vec::with_capacity(HEAD + envelope.len() + sealed_form.len());
    out.push(JOINED);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(envelope);
    out.extend_from_slice(sealed_form);
    Ok(out)
}

/// Whether `value` is already in the joined layout.
pub(super) fn is_joined(value: &[u8]) -> bool {
    value.first() == Some(&JOINED)
}

/// The envelope and the sealed form (`None` once erased) of a stored
/// value; `key` names it in the error.
pub(super) fn split<'a>(
    key: &str,
    value: &'a [u8],
) -> Result<(&'a [u8], Option<&'a [u8]>), StoreError> {
    let corrupt = |reason: &str| StoreError::Corrupt {
        what: "message content",
        key: key.to_string(),
        reason: reason.to_string(),
    };
    if !is_joined(value) || value.len() < HEAD {
        return Err(corrupt("not in the schema 3 layout"));
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(&value[1..HEAD]);
    let end = usize::try_from(u32::from_be_bytes(len))
        .ok()
        .and_then(|n| n.checked_add(HEAD))
        .filter(|&end| end <= value.len())
        .ok_or_else(|| corrupt("envelope length runs past the value"))?;
    let form = &value[end..];
    Ok((
        &value[HEAD..end],
        if form.is_empty() { None } else { Some(form) },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn split_undoes_join(env in proptest::collection::vec(any::<u8>(), 0..300),
                             form in proptest::collection::vec(any::<u8>(), 0..300)) {
            let v = join(&env, &form).unwrap();
            prop_assert!(is_joined(&v));
            let (e, f) = split("k", &v).unwrap();
            prop_assert_eq!(e, &env[..]);
            prop_assert_eq!(f, if form.is_empty() { None } else { Some(&form[..]) });
        }

        #[test]
        fn split_never_panics(v in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = split("k", &v);
        }
    }

    #[test]
    fn bare_envelopes_and_short_values_are_refused() {
        // An envelope (COSE_Encrypt0) starts with tag 16, 0xd0.
        assert!(!is_joined(&[0xd0, 0x83]));
        assert!(split("k", &[0xd0, 0x83]).is_err());
        assert!(split("k", &[JOINED, 0, 0]).is_err());
        assert!(split("k", &[JOINED, 0, 0, 0, 9, 1, 2]).is_err());
        assert_eq!(split("k", &[JOINED, 0, 0, 0, 0]).unwrap(), (&[][..], None));
    }
}
