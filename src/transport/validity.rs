//! The validity period of an X.509 certificate, read from its DER: the
//! `notBefore` and `notAfter` of the TBSCertificate (RFC 5280 §4.1.2.5).
//! A small, bounded DER reader; anything unexpected is an error, never a
//! panic.

/// A certificate's validity period, in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// Not valid before.
    pub not_before: i64,
    /// Not valid after.
    pub not_after: i64,
}

impl Validity {
    /// Whether `now` (Unix seconds) lies inside the period.
    pub fn covers(&self, now: i64) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// `notAfter` as RFC 3339 text.
    pub fn not_after_text(&self) -> String {
        jiff::Timestamp::from_second(self.not_after)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| self.not_after.to_string())
    }
}

const SEQUENCE: u8 = 0x30;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const VERSION_TAG: u8 = 0xa0;

/// Splits one DER TLV off `input`: (tag, contents, rest).
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let (&tag, rest) = input.split_first().ok_or("truncated DER")?;
    let (&first, mut rest) = rest.split_first().ok_or("truncated DER length")?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err("unsupported DER length".into());
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return Err("DER value runs past its end".into());
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

fn digits(s: &[u8]) -> Result<i64, String> {
    let mut v = 0i64;
    for &c in s {
        if !c.is_ascii_digit() {
            return Err("bad digit in a certificate time".into());
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Ok(v)
}

/// Reads a UTCTime or GeneralizedTime in the forms RFC 5280 allows
/// (`YYMMDDHHMMSSZ`, `YYYYMMDDHHMMSSZ`).
fn time(tag: u8, v: &[u8]) -> Result<i64, String> {
    let (year, rest) = match (tag, v.len()) {
        (UTC_TIME, 13) => {
            let yy = digits(&v[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &v[2..])
        }
        (GENERALIZED_TIME, 15) => (digits(&v[..4])?, &v[4..]),
        _ => return Err("unsupported certificate time format".into()),
    };
    if rest.last() != Some(&b'Z') {
        return Err("certificate time is not in UTC".into());
    }
    let f = |i: usize| digits(&rest[i..i + 2]);
    let (mo, d, h, mi, s) = (f(0)?, f(2)?, f(4)?, f(6)?, f(8)?);
    let date = jiff::civil::Date::new(
        i16::try_from(year).map_err(|_| "year out of range")?,
        i8::try_from(mo).map_err(|_| "month out of range")?,
        i8::try_from(d).map_err(|_| "day out of range")?,
    )
    .map_err(|e| e.to_string())?;
    let t = jiff::civil::Time::new(
        i8::try_from(h).map_err(|_| "hour out of range")?,
        i8::try_from(mi).map_err(|_| "minute out of range")?,
        i8::try_from(s).map_err(|_| "second out of range")?,
        0,
    )
    .map_err(|e| e.to_string())?;
    let ts = date
        .to_datetime(t)
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .map_err(|e| e.to_string())?
        .timestamp();
    Ok(ts.as_second())
}

/// The validity period of the DER certificate `der`.
pub fn validity(der: &[u8]) -> Result<Validity, String> {
    let (tag, cert, _) = tlv(der)?;
    if tag != SEQUENCE {
        return Err("not a certificate".into());
    }
    let (tag, tbs, _) = tlv(cert)?;
    if tag != SEQUENCE {
        return Err("no TBSCertificate".into());
    }
    let mut rest = tbs;
    let (tag, _, after) = tlv(rest)?;
    if tag == VERSION_TAG {
        rest = after;
    }
    // serialNumber, signature, issuer.
    for _ in 0..3 {
        rest = tlv(rest)?.2;
    }
    let (tag, period, _) = tlv(rest)?;
    if tag != SEQUENCE {
        return Err("no validity period".into());
    }
    let (t1, nb, rest) = tlv(period)?;
    let (t2, na, _) = tlv(rest)?;
    Ok(Validity {
        not_before: time(t1, nb)?,
        not_after: time(t2, na)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cert(not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let mut p = rcgen::CertificateParams::new(vec!["x.invalid".into()]).unwrap();
        p.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        p.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        p.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn reads_both_time_forms() {
        // Before 2050 rcgen writes UTCTime; from 2050 GeneralizedTime.
        let der = cert((2025, 1, 1), (2051, 6, 30));
        let v = validity(&der).unwrap();
        assert_eq!(v.not_before, 1_735_689_600);
        assert_eq!(v.not_after, 2_571_696_000);
        assert!(v.covers(1_800_000_000));
        assert!(!v.covers(1_700_000_000));
        assert!(v.not_after_text().starts_with("2051-06-30"));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(validity(b"").is_err());
        assert!(validity(&[0x30, 0x82, 0xff, 0xff]).is_err());
        let der = cert((2025, 1, 1), (2030, 1, 1));
        assert!(validity(&der[..der.len() / 2]).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = validity(&bytes);
        }
    }
}
