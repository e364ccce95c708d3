//! The kernel's UDP error counters (`/proc/net/snmp` `Udp:`, `/proc/net/snmp6` `Udp6*`), read at
//! scrape time. They are per network namespace, not per socket: they show datagrams the kernel
//! dropped before any socket of this process could read them (receive buffer full, bad checksum).

use super::exposition::{Exposition, MetricType};
use super::Source;
use std::path::PathBuf;

/// UDP counters of one IP version as the kernel reports them (absent fields are `None`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpCounters {
    /// `InErrors`: datagrams not delivered for reasons other than no port (includes
    /// `RcvbufErrors` and `InCsumErrors`).
    pub in_errors: Option<u64>,
    /// `RcvbufErrors`: dropped because the socket's receive buffer was full.
    pub rcvbuf_errors: Option<u64>,
    /// `SndbufErrors`: not sent because the send buffer was full.
    pub sndbuf_errors: Option<u64>,
}

impl UdpCounters {
    fn set(&mut self, field: &str, value: u64) {
        match field {
            "InErrors" => self.in_errors = Some(value),
            "RcvbufErrors" => self.rcvbuf_errors = Some(value),
            "SndbufErrors" => self.sndbuf_errors = Some(value),
            _ => {}
        }
    }
}

/// Parse `/proc/net/snmp`: the `Udp:` header line names the fields of the `Udp:` value line that
/// follows it. `None` when there is no well-formed `Udp:` pair.
pub fn parse_snmp(text: &str) -> Option<UdpCounters> {
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let header = udp.next()?;
    let values = udp.next()?;
    let mut counters = UdpCounters::default();
    let mut any = false;
    for (field, value) in header
        .split_whitespace()
        .skip(1)
        .zip(values.split_whitespace().skip(1))
    {
        if let Ok(value) = value.parse::<u64>() {
            counters.set(field, value);
            any = true;
        }
    }
    any.then_some(counters)
}

/// Parse `/proc/net/snmp6`: one `Udp6<Field> <value>` per line (`UdpLite6` lines are not UDP).
/// `None` when no `Udp6` line is present.
pub fn parse_snmp6(text: &str) -> Option<UdpCounters> {
    let mut counters = UdpCounters::default();
    let mut any = false;
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let (Some(field), Ok(value)) = (name.strip_prefix("Udp6"), value.parse::<u64>()) else {
            continue;
        };
        counters.set(field, value);
        any = true;
    }
    any.then_some(counters)
}

/// Renders `msgin5g_kernel_udp_*_total{kind="udp"|"udp6"}` from the proc files at each scrape.
#[derive(Debug, Clone)]
pub struct KernelMetrics {
    snmp: PathBuf,
    snmp6: PathBuf,
}

impl Default for KernelMetrics {
    fn default() -> Self {
        KernelMetrics {
            snmp: PathBuf::from("/proc/net/snmp"),
            snmp6: PathBuf::from("/proc/net/snmp6"),
        }
    }
}

impl KernelMetrics {
    /// Read the Linux proc files of this process's network namespace.
    pub fn new() -> KernelMetrics {
        KernelMetrics::default()
    }

    /// Read other files (tests, or a mounted proc of another namespace).
    pub fn with_paths(snmp: impl Into<PathBuf>, snmp6: impl Into<PathBuf>) -> KernelMetrics {
        KernelMetrics {
            snmp: snmp.into(),
            snmp6: snmp6.into(),
        }
    }

    fn read(&self) -> Vec<(&'static str, UdpCounters)> {
        let read = |path: &PathBuf, parse: fn(&str) -> Option<UdpCounters>| {
            std::fs::read_to_string(path).ok().and_then(|t| parse(&t))
        };
        [
            ("udp", read(&self.snmp, parse_snmp)),
            ("udp6", read(&self.snmp6, parse_snmp6)),
        ]
        .into_iter()
        .filter_map(|(kind, counters)| counters.map(|c| (kind, c)))
        .collect()
    }
}

/// A kernel counter family: name, help, and its field of [`UdpCounters`].
type Family = (&'static str, &'static str, fn(&UdpCounters) -> Option<u64>);

const FAMILIES: [Family; 3] = [
    (
        "msgin5g_kernel_udp_rcvbuf_errors_total",
        "UDP datagrams the kernel dropped because a socket receive buffer was full \
         (RcvbufErrors; whole network namespace).",
        |c| c.rcvbuf_errors,
    ),
    (
        "msgin5g_kernel_udp_in_errors_total",
        "UDP datagrams the kernel could not deliver, buffer overflows and checksum \
         errors included (InErrors; whole network namespace).",
        |c| c.in_errors,
    ),
    (
        "msgin5g_kernel_udp_sndbuf_errors_total",
        "UDP datagrams the kernel did not send because a socket send buffer was full \
         (SndbufErrors; whole network namespace).",
        |c| c.sndbuf_errors,
    ),
];

impl Source for KernelMetrics {
    fn render(&self, page: &mut Exposition) {
        let read = self.read();
        for (name, help, field) in FAMILIES {
            page.family(name, MetricType::Counter, help);
            for (kind, counters) in &read {
                if let Some(value) = field(counters) {
                    page.sample(name, &[("kind", kind)], value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNMP: &str = "\
Ip: Forwarding DefaultTTL InReceives
Ip: 1 64 2553
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 1233852 7984 17 1242001 12 3 2 0 0
UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
UdpLite: 0 0 99 0 99 99 0 0 0
";

    const SNMP6: &str = "\
Ip6InReceives                   \t2086
Udp6InDatagrams                 \t1872
Udp6NoPorts                     \t0
Udp6InErrors                    \t5
Udp6OutDatagrams                \t1872
Udp6RcvbufErrors                \t4
Udp6SndbufErrors                \t1
UdpLite6InErrors                \t99
UdpLite6RcvbufErrors            \t99
";

    #[test]
    fn snmp_udp_fields_come_from_the_udp_pair_only() {
        let c = parse_snmp(SNMP).unwrap();
        assert_eq!(
            c,
            UdpCounters {
                in_errors: Some(17),
                rcvbuf_errors: Some(12),
                sndbuf_errors: Some(3),
            }
        );
    }

    #[test]
    fn snmp6_udp6_lines_are_read_and_udplite6_ignored() {
        let c = parse_snmp6(SNMP6).unwrap();
        assert_eq!(
            c,
            UdpCounters {
                in_errors: Some(5),
                rcvbuf_errors: Some(4),
                sndbuf_errors: Some(1),
            }
        );
    }

    #[test]
    fn older_kernels_without_some_fields_and_garbage_are_handled() {
        let old = "Udp: InDatagrams NoPorts InErrors OutDatagrams\nUdp: 1 2 3 4\n";
        assert_eq!(
            parse_snmp(old),
            Some(UdpCounters {
                in_errors: Some(3),
                rcvbuf_errors: None,
                sndbuf_errors: None,
            })
        );
        assert_eq!(parse_snmp("Udp: InErrors\n"), None);
        assert_eq!(parse_snmp("Udp: InErrors\nUdp: x\n"), None);
        assert_eq!(parse_snmp(""), None);
        assert_eq!(parse_snmp6("Ip6InReceives 3\nUdp6InErrors\n"), None);
    }

    #[test]
    fn renders_both_families_from_files_and_skips_missing_ones() {
        let dir = std::env::temp_dir().join(format!("msgin5g-snmp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("snmp"), SNMP).unwrap();
        std::fs::write(dir.join("snmp6"), SNMP6).unwrap();
        let mut page = Exposition::new();
        KernelMetrics::with_paths(dir.join("snmp"), dir.join("snmp6")).render(&mut page);
        let text = page.into_text();
        assert!(text.contains("msgin5g_kernel_udp_rcvbuf_errors_total{kind=\"udp\"} 12\n"));
        assert!(text.contains("msgin5g_kernel_udp_rcvbuf_errors_total{kind=\"udp6\"} 4\n"));
        assert!(text.contains("msgin5g_kernel_udp_in_errors_total{kind=\"udp\"} 17\n"));
        assert!(text.contains("msgin5g_kernel_udp_sndbuf_errors_total{kind=\"udp6\"} 1\n"));

        let mut page = Exposition::new();
        KernelMetrics::with_paths(dir.join("snmp"), dir.join("absent")).render(&mut page);
        let text = page.into_text();
        assert!(text.contains("{kind=\"udp\"}"));
        assert!(!text.contains("udp6"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
