//! The one way every role opens its redb store (docs/ARCHITECTURE.md §6): the data directory is
//! created if missing, redb locks the file (a second process on the same directory is refused),
//! and a `meta` table holds the layout version, so a file of another layout is refused rather
//! than misread.

use redb::{Database, ReadableTable, TableDefinition, WriteTransaction};
use std::path::{Path, PathBuf};

/// The table holding `schema_version` in every store.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Why a store could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("cannot create {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The database reported an error (open, lock, transaction, table, commit).
    #[error("{0}")]
    Db(#[from] redb::Error),
    /// A file next to the database (the server's write-ahead log) could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file was written by another layout version.
    #[error("schema version {found} (this build reads {expected})")]
    Schema {
        /// The version found.
        found: u64,
        /// The version this build reads and writes.
        expected: u64,
    },
}

/// Any redb error as a [`StoreError`].
pub fn db<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Db(e.into())
}

/// Open (or create) `dir/file` with layout `version`; `init` creates the role's tables in the
/// same first write transaction. Returns the database and its path.
pub fn open_versioned(
    dir: &Path,
    file: &str,
    version: u64,
    init: impl FnOnce(&WriteTransaction) -> Result<(), redb::Error>,
) -> Result<(Database, PathBuf), StoreError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(file);
    let database = Database::create(&path).map_err(db)?;
    let txn = database.begin_write().map_err(db)?;
    {
        let mut meta = txn.open_table(META).map_err(db)?;
        let found = meta.get("schema_version").map_err(db)?.map(|v| v.value());
        match found {
            Some(found) if found == version => {}
            Some(found) => {
                return Err(StoreError::Schema {
                    found,
                    expected: version,
                })
            }
            None => {
                meta.insert("schema_version", version).map_err(db)?;
            }
        }
    }
    init(&txn)?;
    txn.commit().map_err(db)?;
    Ok((database, path))
}
