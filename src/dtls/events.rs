//! [`DtlsEvents`]: what a [`DtlsServer`](super::DtlsServer) or [`DtlsClient`](super::DtlsClient)
//! call produced: decrypted plaintexts for the core and records for the socket
//! (docs/PROTOCOL.md §19). One flat byte buffer reused across turns: no allocation per record.

use super::IdentityId;
use std::net::SocketAddr;

/// Plaintexts to feed the core and DTLS records to send, from one or more calls; the driver
/// takes both and then [`clear`](DtlsEvents::clear)s it.
#[derive(Debug, Default)]
pub struct DtlsEvents {
    pub(super) buf: Vec<u8>,
    pub(super) plaintexts: Vec<(SocketAddr, Option<IdentityId>, usize, usize)>,
    records: Vec<(SocketAddr, usize, usize)>,
}

impl DtlsEvents {
    /// An empty set.
    pub fn new() -> DtlsEvents {
        DtlsEvents::default()
    }

    /// The decrypted datagrams: sender, its authenticated PSK identity (server role; `None` on
    /// a client session, whose peer is the server), and the CoAP bytes.
    pub fn plaintexts(&self) -> impl Iterator<Item = (SocketAddr, Option<IdentityId>, &[u8])> {
        self.plaintexts
            .iter()
            .map(|&(from, id, start, end)| (from, id, &self.buf[start..end]))
    }

    /// The DTLS records to send, each one UDP datagram to its destination, in order.
    pub fn records(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.records
            .iter()
            .map(|&(to, start, end)| (to, &self.buf[start..end]))
    }

    /// How many records are waiting to be sent.
    pub fn records_len(&self) -> usize {
        self.records.len()
    }

    /// How many plaintexts are waiting for the core.
    pub fn plaintexts_len(&self) -> usize {
        self.plaintexts.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.plaintexts.is_empty() && self.records.is_empty()
    }

    /// Forget everything (keeping the buffers' capacity).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.plaintexts.clear();
        self.records.clear();
    }

    /// Append a record to send to `to`.
    pub(super) fn push_record(&mut self, to: SocketAddr, record: &[u8]) {
        let start = self.buf.len();
        self.buf.extend_from_slice(record);
        self.records.push((to, start, self.buf.len()));
    }
}
