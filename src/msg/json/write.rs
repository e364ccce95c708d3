//! The JSON writers every message family encodes with: compact JSON (RFC 8259) appended
//! straight to the caller's buffer, strings escaped as RFC 8259 §7 requires.

/// Per byte: 0 = copy as is, `u` = `\u00XX`, otherwise the character after the backslash.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Append `s` as a JSON string literal (with quotes; `"`, `\` and control characters escaped,
/// other characters, including non-ASCII, copied as UTF-8).
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    out.reserve(b.len() + 2);
    out.push(b'"');
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let e = ESCAPE[c as usize];
        if e == 0 {
            continue;
        }
        out.extend_from_slice(&b[start..i]);
        if e == b'u' {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(c >> 4) as usize]);
            out.push(HEX[(c & 0xf) as usize]);
        } else {
            out.push(b'\\');
            out.push(e);
        }
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

/// Exact length of `s` written by [`write_json_string`] (quotes included).
pub fn json_string_len(s: &str) -> usize {
    2 + s
        .bytes()
        .map(|c| match ESCAPE[c as usize] {
            0 => 1,
            b'u' => 6,
            _ => 2,
        })
        .sum::<usize>()
}

/// A non-negative integer in decimal.
pub(crate) fn write_uint(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// `{` + `"msgin5gServiceId":S,`? + `"messageType":"MT"` (`mt` is a `MessageType` wire string).
// The small writers below are `#[inline]`: since they live in this module rather than in each
// family's file, the bulk element writer called them out of line, +9 % instructions per element
// (callgrind, `batch` bench, 558.1M vs 512.2M for the same run); inlined it is 512.2M again.
#[inline]
pub(crate) fn write_head(out: &mut Vec<u8>, sid: Option<&str>, mt: &str) {
    out.push(b'{');
    if let Some(s) = sid {
        out.extend_from_slice(b"\"msgin5gServiceId\":");
        write_json_string(out, s);
        out.push(b',');
    }
    out.extend_from_slice(b"\"messageType\":\"");
    out.extend_from_slice(mt.as_bytes());
    out.push(b'"');
}

/// `,"key":`
#[inline]
pub(crate) fn write_key(out: &mut Vec<u8>, key: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// `,"key":"v"` when `v` is set.
#[inline]
pub(crate) fn write_opt_str(out: &mut Vec<u8>, key: &str, v: Option<&str>) {
    if let Some(v) = v {
        write_key(out, key);
        write_json_string(out, v);
    }
}

/// `,"key":n` when `v` is set.
#[inline]
pub(crate) fn write_opt_u32(out: &mut Vec<u8>, key: &str, v: Option<u32>) {
    if let Some(v) = v {
        write_key(out, key);
        write_uint(out, u64::from(v));
    }
}

/// `"key":"value"` without a leading comma (opens an object).
#[inline]
pub(crate) fn write_first(out: &mut Vec<u8>, key: &str, v: &str) {
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    write_json_string(out, v);
}

/// `,"key":true` when `v`; false flags are left out.
#[inline]
pub(crate) fn write_true(out: &mut Vec<u8>, key: &str, v: bool) {
    if v {
        write_key(out, key);
        out.extend_from_slice(b"true");
    }
}

/// `,"numberOfX":N,"x":[e1,e2,...]` with `N` = `count` or, when absent, the list length;
/// `each` writes one complete element.
pub(crate) fn write_list<T>(
    out: &mut Vec<u8>,
    count_key: &str,
    count: Option<u32>,
    list_key: &str,
    items: &[T],
    mut each: impl FnMut(&mut Vec<u8>, &T),
) {
    write_key(out, count_key);
    write_uint(out, count.map_or(items.len() as u64, u64::from));
    write_key(out, list_key);
    out.push(b'[');
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        each(out, it);
    }
    out.push(b']');
}
