//! A choice's tracking fields signed: `tracking.Signer.sign_canonical` over the fields in
//! canonical order (by name, as they are), and the query of the same fields escaped as
//! `tracking.quoted` escapes them, then `&s=` and the signature.

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

pub type Mac = Hmac<Sha256>;

/// Bytes of a signature kept (`tracking.Signer`): 18, 24 characters of URL-safe base64.
const KEPT: usize = 18;
const HEX: &[u8; 16] = b"0123456789ABCDEF";
const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub struct Fields<'a> {
    pub ad: &'a str,
    pub decision: &'a str,
    pub elements: Option<&'a str>, // None: not a combination
    pub consent: bool,
    pub user: &'a str,
    pub charged: &'a str, // "mc" or "mi", the cost's name; "" when nothing is charged
    pub cost: &'a str,
    pub placement: &'a str,
    pub landing: &'a str,
    pub expires: i64,
}

pub fn mac(key: &[u8]) -> Mac {
    Mac::new_from_slice(key).expect("HMAC takes a key of any length")
}

/// The query and its signature: `tracking.Signed.tail`.
pub fn signed(mac: &Mac, f: &Fields) -> String {
    let expires = f.expires.to_string();
    let mut canonical = String::with_capacity(256);
    write_fields(&mut canonical, f, &expires, |out, value| {
        out.push_str(value)
    });
    let mut mac = mac.clone();
    mac.update(canonical.as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut query = String::with_capacity(canonical.len() * 5 / 4 + 32);
    write_fields(&mut query, f, &expires, quote_into);
    query.push_str("&s=");
    base64_into(&mut query, &digest[..KEPT]);
    query
}

/// The fields as `name=value` joined by `&`, in canonical order, each value as `write` puts it.
fn write_fields(out: &mut String, f: &Fields, expires: &str, write: fn(&mut String, &str)) {
    out.push_str("a=");
    write(out, f.ad);
    out.push_str("&d=");
    write(out, f.decision);
    if let Some(elements) = f.elements {
        out.push_str("&el=");
        write(out, elements);
    }
    out.push_str(if f.consent { "&g=1" } else { "&g=0" });
    out.push_str("&k=");
    write(out, f.user);
    if !f.charged.is_empty() {
        out.push('&');
        out.push_str(f.charged);
        out.push('=');
        write(out, f.cost);
    }
    out.push_str("&p=");
    write(out, f.placement);
    out.push_str("&u=");
    write(out, f.landing);
    out.push_str("&x=");
    out.push_str(expires);
}

/// `value` as a query carries it: letters, digits and `-._~` as they are, every other byte of
/// its UTF-8 as `%XX` (Python's `urllib.parse.quote(value, safe="-_.~")`).
pub fn quote_into(out: &mut String, value: &str) {
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// URL-safe base64 of whole 3-byte groups (no padding is ever needed: 18 bytes).
fn base64_into(out: &mut String, bytes: &[u8]) {
    for group in bytes.chunks_exact(3) {
        let n = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
        for shift in [18, 12, 6, 0] {
            out.push(BASE64[((n >> shift) & 63) as usize] as char);
        }
    }
}
