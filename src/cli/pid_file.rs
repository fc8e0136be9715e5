//! The pid file of `[server] pid_file` (DESIGN 7.5): `signoff serve` writes its process id there once it can
//! take `SIGHUP`, and removes it when it stops; `signoff reload` reads it and sends `SIGHUP`.

use std::io;
use std::path::{Path, PathBuf};

/// A pid file this process wrote.
#[derive(Debug)]
pub(crate) struct PidFile {
    /// Where it is.
    path: PathBuf,
    /// The process id written in it.
    pid: u32,
}

impl PidFile {
    /// Writes this process's id to `path`, atomically: the text goes to a temporary file in the same folder,
    /// which is then renamed over `path`, so a reader never sees a half-written id. A file already there (left by
    /// a process that died) is replaced.
    pub(crate) fn write(path: &Path) -> io::Result<PidFile> {
        write_pid(path, std::process::id())
    }

    /// Deletes the file, unless it no longer holds this process's id (another `serve` with the same config took
    /// it over: its file is left alone).
    pub(crate) fn remove(self) -> io::Result<()> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) if text.trim() == self.pid.to_string() => std::fs::remove_file(&self.path),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn write_pid(path: &Path, pid: u32) -> io::Result<PidFile> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "`[server] pid_file` must name a file"))?;
    let temporary = path.with_file_name(format!(".{}.{pid}.tmp", name.to_string_lossy()));
    std::fs::write(&temporary, format!("{pid}\n"))?;
    if let Err(e) = std::fs::rename(&temporary, path) {
        let _ = std::fs::remove_file(&temporary);
        return Err(e);
    }
    Ok(PidFile { path: path.to_owned(), pid })
}

/// Why `signoff reload` did not signal the server. Each message says what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SignalError {
    /// The config has no `[server] pid_file`.
    #[error(
        "{config}: `[server] pid_file` is not set, so there is no way to find the running server; set it (or \
         SIGNOFF_SERVER_PID_FILE) for `signoff serve` and `signoff reload` alike, or send SIGHUP to the server \
         process yourself"
    )]
    NotConfigured {
        /// The config file, or a description when there is none.
        config: String,
    },
    /// No file where the config says.
    #[error("{path}: no pid file: is `signoff serve` running with this config?")]
    Missing {
        /// The pid file.
        path: String,
    },
    /// The file is there but cannot be read.
    #[error("{path}: cannot read the pid file: {error}")]
    Unreadable {
        /// The pid file.
        path: String,
        /// Why.
        error: String,
    },
    /// The file does not hold a positive process id.
    #[error("{path}: `{text}` is not a process id")]
    Malformed {
        /// The pid file.
        path: String,
        /// What it holds (trimmed, cut short).
        text: String,
    },
    /// No process has that id.
    #[error("{path}: process {pid} is not running; the pid file is stale (did `signoff serve` stop uncleanly?)")]
    Gone {
        /// The pid file.
        path: String,
        /// The id it holds.
        pid: i32,
    },
    /// The process belongs to someone else.
    #[error("{path}: not allowed to signal process {pid}; run `signoff reload` as the user that runs `signoff serve`")]
    NotPermitted {
        /// The pid file.
        path: String,
        /// The id it holds.
        pid: i32,
    },
    /// Any other failure of `kill`.
    #[error("sending SIGHUP to process {pid}: {error}")]
    Failed {
        /// The id.
        pid: i32,
        /// Why.
        error: String,
    },
    /// Signals are a Unix thing.
    #[cfg(not(unix))]
    #[error("`signoff reload` sends SIGHUP, which this system does not have")]
    Unsupported,
}

/// The process id in the pid file at `path`.
pub(crate) fn read_pid(path: &Path) -> Result<i32, SignalError> {
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(SignalError::Missing { path: shown }),
        Err(e) => return Err(SignalError::Unreadable { path: shown, error: e.to_string() }),
    };
    let text = text.trim();
    // 0 and negative ids mean process groups to kill(2): never signal those.
    match text.parse::<i32>() {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => Err(SignalError::Malformed { path: shown, text: text.chars().take(40).collect() }),
    }
}

/// Sends `SIGHUP` to the process whose id is in the pid file at `path`; returns that id.
pub(crate) fn send_hangup(path: &Path) -> Result<i32, SignalError> {
    let pid = read_pid(path)?;
    hangup(path, pid)?;
    Ok(pid)
}

#[cfg(unix)]
fn hangup(path: &Path, pid: i32) -> Result<(), SignalError> {
    use rustix::io::Errno;
    use rustix::process::{Pid, Signal, kill_process};
    let shown = || path.display().to_string();
    let target = Pid::from_raw(pid).ok_or_else(|| SignalError::Malformed { path: shown(), text: pid.to_string() })?;
    match kill_process(target, Signal::HUP) {
        Ok(()) => Ok(()),
        Err(Errno::SRCH) => Err(SignalError::Gone { path: shown(), pid }),
        Err(Errno::PERM) => Err(SignalError::NotPermitted { path: shown(), pid }),
        Err(e) => Err(SignalError::Failed { pid, error: e.to_string() }),
    }
}

#[cfg(not(unix))]
fn hangup(_path: &Path, _pid: i32) -> Result<(), SignalError> {
    Err(SignalError::Unsupported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pid_file_holds_this_process_id_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signoff.pid");
        std::fs::write(&path, "999999999\n").unwrap(); // left by a process that died: replaced

        let file = PidFile::write(&path).unwrap();

        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{}\n", std::process::id()));
        assert_eq!(read_pid(&path), Ok(std::process::id() as i32));
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["signoff.pid"], "the temporary file was renamed");
        file.remove().unwrap();
        assert!(!path.exists(), "removed on a clean stop");
    }

    #[test]
    fn removing_leaves_a_file_another_process_took_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signoff.pid");
        let file = PidFile::write(&path).unwrap();
        std::fs::write(&path, "12345\n").unwrap();

        file.remove().unwrap();

        assert_eq!(std::fs::read_to_string(&path).unwrap(), "12345\n");
    }

    #[test]
    fn writing_into_a_missing_folder_fails_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let e = PidFile::write(&dir.path().join("no/such/folder/signoff.pid")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn a_missing_or_malformed_pid_file_is_refused_with_a_message_that_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signoff.pid");
        let shown = path.display().to_string();

        let missing = read_pid(&path).unwrap_err();
        assert_eq!(missing, SignalError::Missing { path: shown.clone() });
        assert_eq!(missing.to_string(), format!("{shown}: no pid file: is `signoff serve` running with this config?"));

        for (text, shown_text) in [("", ""), ("abc\n", "abc"), ("0\n", "0"), ("-1\n", "-1"), ("12 13", "12 13")] {
            std::fs::write(&path, text).unwrap();
            let e = send_hangup(&path).unwrap_err();
            assert_eq!(e, SignalError::Malformed { path: shown.clone(), text: shown_text.to_owned() }, "{text:?}");
            assert_eq!(e.to_string(), format!("{shown}: `{shown_text}` is not a process id"));
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_pid_file_naming_a_process_that_is_gone_is_called_stale() {
        // A child that has exited and been waited for: its id names no process (until the system reuses it).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signoff.pid");
        std::fs::write(&path, format!("{pid}\n")).unwrap();

        let e = send_hangup(&path).unwrap_err();

        assert_eq!(e, SignalError::Gone { path: path.display().to_string(), pid });
        assert!(e.to_string().ends_with("is not running; the pid file is stale (did `signoff serve` stop uncleanly?)"));
    }

    #[test]
    fn an_unset_pid_file_names_the_config_and_the_keys_to_set() {
        let e = SignalError::NotConfigured { config: "conf/signoff.toml".to_owned() };
        let text = e.to_string();
        assert!(text.starts_with("conf/signoff.toml: `[server] pid_file` is not set"), "{text}");
        assert!(text.contains("SIGNOFF_SERVER_PID_FILE"), "{text}");
    }
}
