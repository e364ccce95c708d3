//! Whether the upstream answers (issue 9 item 9, issue 10 §4): the clocks behind the silence
//! warning, the pings to a silent upstream and the re-sending after its return ([`super::silence`]).

use std::time::Instant;

/// The shard's view of whether the upstream is alive.
#[derive(Debug, Default)]
pub(super) struct Liveness {
    /// Since when something has been outstanding toward the upstream with nothing heard back
    /// (`None`: nothing outstanding, or heard since).
    pub(super) awaiting_since: Option<Instant>,
    /// When the upstream was declared silent (`None`: it is not).
    pub(super) silent_since: Option<Instant>,
    /// When the next ping goes, while silent.
    pub(super) next_probe: Option<Instant>,
    /// Heard again (second) after a silence that began at the first: the exchanges sent
    /// before its beginning go again at the next timeout.
    pub(super) resend: Option<(Instant, Instant)>,
    /// When the warning is repeated, while silent.
    pub(super) next_warning: Option<Instant>,
    /// Whether anything has come from the upstream since the start.
    pub(super) heard: bool,
}

impl Liveness {
    /// Whether the upstream is currently declared silent.
    pub(super) fn is_silent(&self) -> bool {
        self.silent_since.is_some()
    }
}
