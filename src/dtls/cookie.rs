//! The stateless cookie of the HelloVerifyRequest exchange (RFC 6347 §4.2.1): a MAC of the
//! client's address under a secret from the OS RNG, rotated every `dtls_cookie_rotate_s` with
//! the previous secret still accepted (docs/PROTOCOL.md §19). Nothing is stored per client.

use std::net::{IpAddr, SocketAddr};
use std::os::raw::{c_int, c_uint};
use std::time::{Duration, Instant};

/// Cookie length in bytes (RFC 6347 §4.2.1 allows up to 255; 16 bytes of HMAC-SHA256 is
/// beyond guessing for a spoofer who never sees it).
pub const COOKIE_LEN: usize = 16;

// HMAC() one-shot from libcrypto (OpenSSL 3.0, <openssl/hmac.h>): openssl-sys does not declare
// it, and the `openssl` crate's `Signer` allocates an EVP_PKEY and context per call.
extern "C" {
    fn HMAC(
        evp_md: *const openssl_sys::EVP_MD,
        key: *const std::os::raw::c_void,
        key_len: c_int,
        data: *const u8,
        data_len: usize,
        md: *mut u8,
        md_len: *mut c_uint,
    ) -> *mut u8;
}

/// The current and previous cookie secrets and when to rotate.
#[derive(Debug)]
pub struct CookieJar {
    current: [u8; 32],
    previous: [u8; 32],
    rotate_every: Duration,
    rotate_at: Option<Instant>,
}

impl CookieJar {
    /// Fresh secrets; the first rotation comes `rotate_every` after the first use.
    pub fn new(rotate_every: Duration) -> CookieJar {
        let mut jar = CookieJar {
            current: [0; 32],
            previous: [0; 32],
            rotate_every,
            rotate_at: None,
        };
        fill_random(&mut jar.current);
        fill_random(&mut jar.previous);
        jar
    }

    /// Rotate if due (the previous secret stays valid one more period).
    pub fn tick(&mut self, now: Instant) {
        match self.rotate_at {
            None => self.rotate_at = Some(now + self.rotate_every),
            Some(at) if now >= at => {
                self.previous = self.current;
                fill_random(&mut self.current);
                self.rotate_at = Some(now + self.rotate_every);
            }
            Some(_) => {}
        }
    }

    /// The cookie for `peer` under the current secret.
    pub fn generate(&self, peer: SocketAddr) -> [u8; COOKIE_LEN] {
        mac(&self.current, peer)
    }

    /// Whether `cookie` is `peer`'s under the current or the previous secret (constant time).
    pub fn verify(&self, peer: SocketAddr, cookie: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        cookie.len() == COOKIE_LEN
            && (bool::from(mac(&self.current, peer).ct_eq(cookie))
                | bool::from(mac(&self.previous, peer).ct_eq(cookie)))
    }
}

fn fill_random(secret: &mut [u8; 32]) {
    // The OS RNG failing is not recoverable for a security secret.
    getrandom::fill(secret).expect("OS random number generator");
}

/// HMAC-SHA256(secret, address || port) truncated to [`COOKIE_LEN`].
fn mac(secret: &[u8; 32], peer: SocketAddr) -> [u8; COOKIE_LEN] {
    let mut msg = [0u8; 18];
    let n = match peer.ip() {
        IpAddr::V4(ip) => {
            msg[..4].copy_from_slice(&ip.octets());
            4
        }
        IpAddr::V6(ip) => {
            msg[..16].copy_from_slice(&ip.octets());
            16
        }
    };
    msg[n..n + 2].copy_from_slice(&peer.port().to_be_bytes());
    let mut md = [0u8; 64];
    let mut md_len: c_uint = 0;
    // SAFETY: valid key, message and a 64-byte output (EVP_MAX_MD_SIZE) for a SHA-256 digest.
    let ok = unsafe {
        HMAC(
            openssl_sys::EVP_sha256(),
            secret.as_ptr().cast(),
            secret.len() as c_int,
            msg.as_ptr(),
            n + 2,
            md.as_mut_ptr(),
            &mut md_len,
        )
    };
    assert!(
        !ok.is_null() && md_len as usize >= COOKIE_LEN,
        "HMAC-SHA256"
    );
    let mut cookie = [0u8; COOKIE_LEN];
    cookie.copy_from_slice(&md[..COOKIE_LEN]);
    cookie
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_binds_the_address_and_survives_one_rotation() {
        let t0 = Instant::now();
        let mut jar = CookieJar::new(Duration::from_secs(60));
        jar.tick(t0);
        let a: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let b: SocketAddr = "10.0.0.1:5001".parse().unwrap();
        let c = jar.generate(a);
        assert!(jar.verify(a, &c));
        assert!(!jar.verify(b, &c), "another port");
        assert!(!jar.verify(a, &c[..8]), "truncated");
        jar.tick(t0 + Duration::from_secs(59));
        assert_eq!(jar.generate(a), c, "not yet rotated");
        jar.tick(t0 + Duration::from_secs(60));
        assert_ne!(jar.generate(a), c);
        assert!(jar.verify(a, &c), "previous secret still valid");
        jar.tick(t0 + Duration::from_secs(120));
        assert!(!jar.verify(a, &c), "two rotations later");
        let v6: SocketAddr = "[::1]:5000".parse().unwrap();
        assert!(jar.verify(v6, &jar.generate(v6)));
    }
}
