//! DTLS bench (placeholder until the sessions land).
fn main() {}
