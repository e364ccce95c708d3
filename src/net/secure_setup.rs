//! Building the coaps roles of a driver from the roles' configuration (docs/PROTOCOL.md §19,
//! docs/ARCHITECTURE.md §2): the DTLS server of a coaps listen socket and the DTLS clients of a
//! gateway's coaps uplinks, handed to [`Secure`](super::secure::Secure).

use crate::dtls::{DtlsClient, DtlsServer, DtlsServerConfig, DtlsStats, PskTable};
use crate::gateway::UplinkDtls;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Loopback of `addr`'s family, any port: where a role with `require_security` binds its
/// plain socket (kept for the driver's socket table, unreachable from outside).
pub(crate) fn loopback_like(addr: SocketAddr) -> SocketAddr {
    let ip: IpAddr = if addr.is_ipv4() {
        Ipv4Addr::LOCALHOST.into()
    } else {
        Ipv6Addr::LOCALHOST.into()
    };
    SocketAddr::new(ip, 0)
}

/// The DTLS server of one coaps listen socket with `settings` (D14.4, D14.5).
pub(crate) fn dtls_server(
    psk: &Arc<PskTable>,
    settings: &DtlsServerConfig,
    stats: Arc<DtlsStats>,
) -> io::Result<DtlsServer> {
    DtlsServer::new(psk.clone(), *settings, stats)
        .map_err(|e| io::Error::other(format!("coaps: cannot set up DTLS (OpenSSL): {e}")))
}

/// The DTLS client of one coaps uplink toward `server` (D14.8).
pub(crate) fn dtls_client(
    server: SocketAddr,
    uplink: &UplinkDtls,
    stats: Arc<DtlsStats>,
) -> io::Result<DtlsClient> {
    let psk = &uplink.psk;
    DtlsClient::new(server, &psk.identity, &psk.key, uplink.client, stats)
        .map_err(|e| io::Error::other(format!("coaps uplink: cannot set up DTLS (OpenSSL): {e}")))
}
