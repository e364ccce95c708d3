//! The server's write-ahead log, `server.log` next to `server.redb` (docs/ARCHITECTURE.md §6).
//!
//! Each batch of changed records ([`ServerChanges`]) is appended as one checksummed frame and made
//! durable with `fdatasync` before the batch counts as written; the records are kept in memory,
//! one per key (the last wins), and folded into `server.redb` in one transaction at most once per
//! [`FOLD_INTERVAL`] or when the log passes [`FOLD_BYTES`]; the log is then emptied. At open, a
//! log left by a stop or a kill is folded first: its frames are replayed in order up to the
//! first incomplete or corrupt one (a batch cut by the kill, whose datagrams never left).
//! Replaying frames already folded is harmless: every record is a key's whole state.
//!
//! Why not one redb transaction per batch: measured (release build, `msgin5g server --data-dir`
//! behind a 2-shard gateway, `loadgen --devices 1000 --duration 10`, register-deregister, `perf`
//! on the server process) the writer thread updating redb's copy-on-write B-tree for every
//! changed key took 52 % of the server's CPU samples, more than the whole event loop, and the
//! persisting setup reached 57 % of the in-memory rate. A frame costs one copy of the encoded
//! records; a key that changes many times between folds (a device registering and
//! de-registering) reaches redb once.
//!
//! Frame: `len: u32 LE`, `crc32(body): u32 LE`, body = records; record = kind `u8` (0 UE
//! registration, 1 AS registration, 2 stored message, 3 accepted message, 4 a subscriber's topic
//! subscriptions), present `u8`, key (kinds 0/1/4: `u32 LE` length + UTF-8; kinds 2/3:
//! `u64 LE`), value when present (`u32 LE` length + bytes).

use super::changes::ServerChanges;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The log file inside the data directory.
pub const LOG_FILE: &str = "server.log";

/// Longest records stay only in the log before they are folded into `server.redb`.
pub const FOLD_INTERVAL: Duration = Duration::from_secs(1);

/// Log size that triggers a fold whatever the time.
pub const FOLD_BYTES: u64 = 16 << 20;

/// Most bytes of one frame (a larger length is read as corruption).
const MAX_FRAME: usize = 1 << 30;

/// A key of one of the five tables.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Registration(String),
    AsRegistration(String),
    Stored(u64),
    Accepted(u64),
    TopicSubscriptions(String),
}

/// The log file and the records appended since the last fold.
#[derive(Debug)]
pub(crate) struct Wal {
    file: File,
    path: PathBuf,
    /// Bytes in the file (all whole frames).
    len: u64,
    /// Each key's last record since the last fold (`None`: deleted).
    unfolded: HashMap<Key, Option<Vec<u8>>, foldhash::fast::RandomState>,
    /// When the last fold happened (or the log was opened).
    folded_at: Instant,
    /// Reused frame buffer.
    frame: Vec<u8>,
}

impl Wal {
    /// Open (create) `dir/server.log`; the changes it holds, in order (to fold at once).
    pub(crate) fn open(dir: &Path) -> io::Result<(Wal, ServerChanges)> {
        let path = dir.join(LOG_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let changes = decode_frames(&bytes);
        let wal = Wal {
            file,
            path,
            len: bytes.len() as u64,
            unfolded: HashMap::default(),
            folded_at: Instant::now(),
            frame: Vec::new(),
        };
        Ok((wal, changes))
    }

    /// The log file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Append `changes` as one frame and make it durable, then keep its records for the next
    /// fold; on failure the file is cut back to its last whole frame and `changes` come back.
    pub(crate) fn append(
        &mut self,
        changes: ServerChanges,
    ) -> Result<(), Box<(io::Error, ServerChanges)>> {
        let mut body = std::mem::take(&mut self.frame);
        body.clear();
        body.extend_from_slice(&[0; 8]);
        encode_records(&changes, &mut body);
        let Ok(n) = u32::try_from(body.len() - 8) else {
            self.frame = body;
            return Err(Box::new((io::Error::other("frame too large"), changes)));
        };
        let crc = crc32fast::hash(&body[8..]);
        body[..4].copy_from_slice(&n.to_le_bytes());
        body[4..8].copy_from_slice(&crc.to_le_bytes());
        let written = self
            .file
            .write_all(&body)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Never leave half a frame in front of later ones.
            let _ = self.file.set_len(self.len);
            self.frame = body;
            return Err(Box::new((e, changes)));
        }
        self.len += body.len() as u64;
        self.frame = body;
        self.remember(changes);
        Ok(())
    }

    /// Whether the records kept should go to `server.redb` now.
    pub(crate) fn fold_due(&self) -> bool {
        !self.unfolded.is_empty()
            && (self.len >= FOLD_BYTES || self.folded_at.elapsed() >= FOLD_INTERVAL)
    }

    /// Whether records wait to be folded.
    pub(crate) fn has_unfolded(&self) -> bool {
        !self.unfolded.is_empty()
    }

    /// The records kept since the last fold, one per key (taken; put them back with
    /// [`Wal::unfold`] when their write fails).
    pub(crate) fn take_unfolded(&mut self) -> ServerChanges {
        let mut changes = ServerChanges::default();
        for (key, value) in self.unfolded.drain() {
            match key {
                Key::Registration(k) => changes.registrations.push((k, value)),
                Key::AsRegistration(k) => changes
                    .as_registrations
                    .push((k, value.map(|v| String::from_utf8_lossy(&v).into_owned()))),
                Key::Stored(id) => changes.stored.push((id, value)),
                Key::Accepted(id) => changes.accepted.push((id, value)),
                Key::TopicSubscriptions(k) => changes.topic_subscriptions.push((k, value)),
            }
        }
        changes
    }

    /// Records taken for a fold whose write failed: kept again (newer ones win).
    pub(crate) fn unfold(&mut self, changes: ServerChanges) {
        let newer = std::mem::take(&mut self.unfolded);
        self.remember(changes);
        self.unfolded.extend(newer);
    }

    /// Everything in the log is in `server.redb` now: empty the file.
    pub(crate) fn truncate(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.sync_all()?;
        self.len = 0;
        self.folded_at = Instant::now();
        Ok(())
    }

    fn remember(&mut self, changes: ServerChanges) {
        let ServerChanges {
            registrations,
            as_registrations,
            stored,
            accepted,
            topic_subscriptions,
        } = changes;
        let map = &mut self.unfolded;
        for (k, v) in registrations {
            map.insert(Key::Registration(k), v);
        }
        for (k, v) in as_registrations {
            map.insert(Key::AsRegistration(k), v.map(String::into_bytes));
        }
        for (id, v) in stored {
            map.insert(Key::Stored(id), v);
        }
        for (id, v) in accepted {
            map.insert(Key::Accepted(id), v);
        }
        for (k, v) in topic_subscriptions {
            map.insert(Key::TopicSubscriptions(k), v);
        }
    }
}

/// One record: kind, present, key (its bytes, `u32 LE` length first for the text keys), value.
fn put_record(out: &mut Vec<u8>, kind: u8, key: &[u8], value: Option<&[u8]>) {
    out.push(kind);
    out.push(u8::from(value.is_some()));
    out.extend_from_slice(key);
    if let Some(v) = value {
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
        out.extend_from_slice(v);
    }
}

fn text_key(key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + key.len());
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    out
}

fn encode_records(c: &ServerChanges, out: &mut Vec<u8>) {
    for (k, v) in &c.registrations {
        put_record(out, 0, &text_key(k), v.as_deref());
    }
    for (k, v) in &c.as_registrations {
        put_record(out, 1, &text_key(k), v.as_deref().map(str::as_bytes));
    }
    for (kind, list) in [(2u8, &c.stored), (3u8, &c.accepted)] {
        for (id, v) in list {
            put_record(out, kind, &id.to_le_bytes(), v.as_deref());
        }
    }
    for (k, v) in &c.topic_subscriptions {
        put_record(out, 4, &text_key(k), v.as_deref());
    }
}

/// A cursor over a frame body.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A length (`u32 LE`) and that many bytes.
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u32()?).ok()?;
        self.take(n)
    }

    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }
}

/// The records of every whole, intact frame of `bytes`, in order (stops at the first that is
/// not).
fn decode_frames(bytes: &[u8]) -> ServerChanges {
    let mut changes = ServerChanges::default();
    let mut input = Cursor(bytes);
    while let (Some(len), Some(crc)) = (input.u32(), input.u32()) {
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let Some(body) = input.take(len).filter(|_| len <= MAX_FRAME) else {
            break;
        };
        if crc32fast::hash(body) != crc || decode_records(body, &mut changes).is_none() {
            break;
        }
    }
    changes
}

fn decode_records(body: &[u8], changes: &mut ServerChanges) -> Option<()> {
    let mut c = Cursor(body);
    let mut out = ServerChanges::default();
    while !c.0.is_empty() {
        let kind = c.u8()?;
        let present = c.u8()? == 1;
        match kind {
            0 | 1 | 4 => {
                let key = std::str::from_utf8(c.bytes()?).ok()?.to_owned();
                let value = match present {
                    true => Some(c.bytes()?.to_vec()),
                    false => None,
                };
                if kind == 0 {
                    out.registrations.push((key, value));
                } else if kind == 4 {
                    out.topic_subscriptions.push((key, value));
                } else {
                    let value = value.map(String::from_utf8).transpose().ok()?;
                    out.as_registrations.push((key, value));
                }
            }
            2 | 3 => {
                let id = c.u64()?;
                let value = match present {
                    true => Some(c.bytes()?.to_vec()),
                    false => None,
                };
                if kind == 2 {
                    out.stored.push((id, value));
                } else {
                    out.accepted.push((id, value));
                }
            }
            _ => return None,
        }
    }
    changes.registrations.extend(out.registrations);
    changes.as_registrations.extend(out.as_registrations);
    changes.stored.extend(out.stored);
    changes.accepted.extend(out.accepted);
    changes.topic_subscriptions.extend(out.topic_subscriptions);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes() -> ServerChanges {
        ServerChanges {
            registrations: vec![("ue-1".into(), Some(b"r1".to_vec())), ("ue-2".into(), None)],
            as_registrations: vec![("as-1".into(), Some("127.0.0.1:9".into()))],
            stored: vec![(3, Some(b"s3".to_vec()))],
            accepted: vec![(7, None), (8, Some(b"a8".to_vec()))],
            topic_subscriptions: vec![("UE:ue-1".into(), Some(b"t1".to_vec()))],
        }
    }

    fn sorted(mut c: ServerChanges) -> ServerChanges {
        c.registrations.sort();
        c.as_registrations.sort();
        c.stored.sort();
        c.accepted.sort();
        c.topic_subscriptions.sort();
        c
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "msgin5g-wal-{}-{name}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn frames_round_trip_and_a_cut_or_corrupt_tail_is_ignored() {
        let mut bytes = Vec::new();
        for _ in 0..2 {
            let mut frame = vec![0; 8];
            encode_records(&changes(), &mut frame);
            let n = (frame.len() - 8) as u32;
            let crc = crc32fast::hash(&frame[8..]);
            frame[..4].copy_from_slice(&n.to_le_bytes());
            frame[4..8].copy_from_slice(&crc.to_le_bytes());
            bytes.extend_from_slice(&frame);
        }
        let one = bytes.len() / 2;
        let both = decode_frames(&bytes);
        assert_eq!(both.registrations.len(), 4);
        assert_eq!(both.accepted[2], (7, None));
        for cut in [one, bytes.len() - 1, one + 5] {
            let c = decode_frames(&bytes[..cut]);
            assert_eq!(
                c.len(),
                changes().len(),
                "cut at {cut}: the first frame only"
            );
        }
        let mut corrupt = bytes.clone();
        corrupt[one + 10] ^= 0xff;
        assert_eq!(decode_frames(&corrupt).len(), changes().len());
        assert!(decode_frames(b"").is_empty());
    }

    #[test]
    fn appended_batches_are_read_back_and_kept_one_per_key() {
        let dir = temp_dir("append");
        let (mut wal, found) = Wal::open(&dir).unwrap();
        assert!(found.is_empty() && !wal.fold_due());
        wal.append(changes()).unwrap();
        let later = ServerChanges {
            registrations: vec![("ue-1".into(), None)],
            ..Default::default()
        };
        wal.append(later).unwrap();
        drop(wal);
        // Reopened (a kill): every record, in order.
        let (mut wal, found) = Wal::open(&dir).unwrap();
        assert_eq!(found.registrations.last(), Some(&("ue-1".into(), None)));
        assert_eq!(found.len(), changes().len() + 1);
        assert!(
            !wal.has_unfolded(),
            "reopening keeps nothing: the caller folds it"
        );
        wal.remember(found);
        let kept = sorted(wal.take_unfolded());
        assert_eq!(
            kept.registrations,
            vec![("ue-1".into(), None), ("ue-2".into(), None)],
            "the last record per key"
        );
        assert_eq!(kept.as_registrations, changes().as_registrations);
        assert_eq!(kept.topic_subscriptions, changes().topic_subscriptions);
        // A failed fold keeps them, newer records winning.
        wal.append(ServerChanges {
            stored: vec![(3, None)],
            ..Default::default()
        })
        .unwrap();
        wal.unfold(kept);
        let again = sorted(wal.take_unfolded());
        assert_eq!(again.stored, vec![(3, None)]);
        assert_eq!(again.registrations.len(), 2);
        wal.truncate().unwrap();
        drop(wal);
        assert!(Wal::open(&dir).unwrap().1.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
