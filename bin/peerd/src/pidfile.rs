//! The running peer's pid file, `<peer.fileSystemPath>/peer.pid`, held with
//! an exclusive advisory `flock` for as long as the peer runs (as v0.6 did),
//! so a second `peerd node start` on the same data directory fails at once,
//! and `peerd node stop` signals only a pid whose file is still held.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The pid file's name inside the data directory.
pub const PID_FILE_NAME: &str = "peer.pid";

/// Why the pid file could not be taken or read.
#[derive(Debug, thiserror::Error)]
pub enum PidError {
    /// Another process holds the lock.
    #[error(
        "another peer is already running on this data directory: {} is locked{}; stop it with `peerd node stop` \
         or give this peer another peer.fileSystemPath",
        path.display(), pid.map(|p| format!(" by pid {p}")).unwrap_or_default()
    )]
    Locked {
        /// The pid file.
        path: PathBuf,
        /// The pid written in it, when readable.
        pid: Option<i32>,
    },
    /// The file could not be opened, locked, read or written.
    #[error("cannot use pid file {}: {source}; check that peer.fileSystemPath is writable", path.display())]
    Io {
        /// The pid file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file does not hold a pid.
    #[error("pid file {} does not hold a process id; remove it if no peer is running", path.display())]
    Garbled {
        /// The pid file.
        path: PathBuf,
    },
}

/// The held pid file; dropping it removes the file and releases the lock.
#[derive(Debug)]
pub struct PidLock {
    /// Held open: the lock lives exactly as long as this descriptor.
    _file: File,
    path: PathBuf,
}

impl PidLock {
    /// Takes `<dir>/peer.pid`, writes this process's pid into it and keeps it locked.
    ///
    /// # Errors
    /// [`PidError::Locked`] if another peer holds it; [`PidError::Io`] otherwise.
    pub fn acquire(dir: &Path) -> Result<Self, PidError> {
        let path = dir.join(PID_FILE_NAME);
        let io = |source| PidError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        if !try_lock(&file).map_err(io)? {
            return Err(PidError::Locked {
                pid: read_pid(&path).ok(),
                path,
            });
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(Self { _file: file, path })
    }

    /// The pid file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidLock {
    fn drop(&mut self) {
        // Remove while still holding the lock, then the fd closes and releases it.
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove pid file");
        }
    }
}

/// Tries an exclusive non-blocking `flock`; `Ok(false)` if someone else holds it.
fn try_lock(file: &File) -> std::io::Result<bool> {
    // SAFETY: flock on a valid, open file descriptor owned by `file`; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.kind() == std::io::ErrorKind::WouldBlock {
        Ok(false)
    } else {
        Err(err)
    }
}

/// Reads the pid written in a pid file.
///
/// # Errors
/// [`PidError::Io`] if unreadable, [`PidError::Garbled`] if it holds no pid.
pub fn read_pid(path: &Path) -> Result<i32, PidError> {
    let mut text = String::new();
    File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|source| PidError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    text.trim()
        .parse::<i32>()
        .ok()
        .filter(|pid| *pid > 0)
        .ok_or_else(|| PidError::Garbled {
            path: path.to_path_buf(),
        })
}

/// Whether some process holds the pid file's lock (i.e. a peer is running).
///
/// # Errors
/// [`PidError::Io`] if the file cannot be opened.
pub fn is_held(path: &Path) -> Result<bool, PidError> {
    let io = |source| PidError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    // Our probe lock is released when `file` closes.
    Ok(!try_lock(&file).map_err(io)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_fails_naming_the_file_and_pid() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = PidLock::acquire(dir.path()).expect("first lock");
        assert_eq!(
            read_pid(first.path()).expect("pid"),
            std::process::id() as i32
        );
        assert!(is_held(first.path()).expect("probe"));
        let err = PidLock::acquire(dir.path())
            .expect_err("second lock")
            .to_string();
        assert!(
            err.contains(&dir.path().join(PID_FILE_NAME).display().to_string()),
            "{err}"
        );
        assert!(
            err.contains(&format!("by pid {}", std::process::id())),
            "{err}"
        );
    }

    #[test]
    fn dropping_releases_and_removes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = PidLock::acquire(dir.path())
            .expect("lock")
            .path()
            .to_path_buf();
        assert!(!path.exists());
        drop(PidLock::acquire(dir.path()).expect("again after release"));
    }

    #[test]
    fn stale_file_is_not_held() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(PID_FILE_NAME);
        std::fs::write(&path, "12345\n").expect("write");
        assert!(!is_held(&path).expect("probe"));
        assert_eq!(read_pid(&path).expect("pid"), 12345);
        std::fs::write(&path, "x").expect("write");
        assert!(matches!(read_pid(&path), Err(PidError::Garbled { .. })));
    }
}
