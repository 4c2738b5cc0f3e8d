//! Walking directories and expanding globs into input files.
//!
//! Every entry a walk meets is either an input or an error naming it: an unreadable
//! directory, a symbolic link that loops or leads nowhere, and a file that is not a
//! regular file (a named pipe, socket or device, which would block or never end) are
//! reported, never skipped silently — a log directory that runlens cannot fully see
//! must not look fully ingested. Hidden entries (names starting with `.`) are skipped
//! on purpose and are not looked into.

use std::io;
use std::path::{Path, PathBuf};

use super::InputError;

/// The regular files under `root`, following symbolic links, each one or the error of
/// an entry that cannot be ingested, sorted by path.
pub(super) fn directory(root: &Path) -> Vec<Result<PathBuf, InputError>> {
    let mut found: Vec<(PathBuf, Result<(), InputError>)> = Vec::new();
    let entries = walkdir::WalkDir::new(root)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !super::is_hidden(e.path()));
    for entry in entries {
        match entry {
            Ok(e) if e.file_type().is_dir() => {}
            Ok(e) => {
                let checked = regular(e.path(), e.file_type());
                found.push((e.into_path(), checked));
            }
            Err(err) => {
                let path = err.path().unwrap_or(root).to_owned();
                let error = match (err.loop_ancestor(), err.io_error()) {
                    (Some(ancestor), _) => InputError::Unreadable {
                        path: path.display().to_string(),
                        what: format!(
                            "symbolic link loop: it leads back to {}, which is already being read; not followed",
                            ancestor.display()
                        ),
                    },
                    (None, Some(io)) => unreadable(&path, io),
                    (None, None) => InputError::Unreadable {
                        path: path.display().to_string(),
                        what: err.to_string(),
                    },
                };
                found.push((path, Err(error)));
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
        .into_iter()
        .map(|(path, checked)| checked.map(|()| path))
        .collect()
}

/// The regular files a glob pattern matches (directories it matches are not inputs),
/// each one or the error of a match or directory that cannot be read, sorted by path.
pub(super) fn glob(pattern: &str) -> Result<Vec<Result<PathBuf, InputError>>, InputError> {
    let paths = glob::glob(pattern).map_err(|source| InputError::BadPattern {
        pattern: pattern.to_owned(),
        source,
    })?;
    let mut found: Vec<(PathBuf, Result<(), InputError>)> = Vec::new();
    for matched in paths {
        match matched {
            Ok(path) => match std::fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => {}
                Ok(meta) => {
                    let checked = regular(&path, meta.file_type());
                    found.push((path, checked));
                }
                Err(io) => {
                    let error = unreadable(&path, &io);
                    found.push((path, Err(error)));
                }
            },
            Err(err) => {
                let error = unreadable(err.path(), err.error());
                found.push((err.path().to_owned(), Err(error)));
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found
        .into_iter()
        .map(|(path, checked)| checked.map(|()| path))
        .collect())
}

/// Only regular files are read from a walk or a glob.
fn regular(path: &Path, kind: std::fs::FileType) -> Result<(), InputError> {
    use std::os::unix::fs::FileTypeExt;
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_fifo() {
        "a named pipe"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    };
    Err(InputError::Unreadable {
        path: path.display().to_string(),
        what: format!("{what}, not a regular file: not read (it may block or never end); name it on its own to read it anyway, or move it out of the directory"),
    })
}

/// The error for `path`, which `io` kept from being read or followed.
pub(super) fn unreadable(path: &Path, io: &io::Error) -> InputError {
    let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let what = if io.raw_os_error() == Some(libc::ELOOP) {
        format!("symbolic link loop ({io}); not followed")
    } else if link && io.kind() == io::ErrorKind::NotFound {
        let target = std::fs::read_link(path)
            .map(|t| t.display().to_string())
            .unwrap_or_default();
        format!("dangling symbolic link: its target {target} does not exist")
    } else {
        format!("cannot read: {io}")
    };
    InputError::Unreadable {
        path: path.display().to_string(),
        what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    /// What a walk yields, with `root` cut from the paths and messages.
    fn names(root: &Path, found: &[Result<PathBuf, InputError>]) -> Vec<String> {
        let r = root.display().to_string();
        found
            .iter()
            .map(|f| match f {
                Ok(p) => p.display().to_string().replace(&r, ""),
                Err(e) => format!("error {}", e.to_string().replace(&r, "")),
            })
            .collect()
    }

    #[test]
    fn loops_dangling_links_and_pipes_are_errors_not_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("logs/2024")).unwrap();
        std::fs::write(root.join("logs/a.log"), "x").unwrap();
        std::fs::write(root.join("logs/2024/b.log"), "x").unwrap();
        symlink("..", root.join("logs/2024/up")).unwrap();
        symlink("self", root.join("logs/self")).unwrap();
        symlink("rotated-away.log", root.join("logs/current.log")).unwrap();
        symlink("a.log", root.join("logs/latest.log")).unwrap();
        let fifo = std::ffi::CString::new(root.join("logs/pipe").display().to_string()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);

        let found = directory(&root.join("logs"));
        let names = names(root, &found);
        assert_eq!(
            names,
            vec![
                "/logs/2024/b.log",
                "error /logs/2024/up: symbolic link loop: it leads back to /logs, which is already being read; not followed",
                "/logs/a.log",
                "error /logs/current.log: dangling symbolic link: its target rotated-away.log does not exist",
                "/logs/latest.log",
                "error /logs/pipe: a named pipe, not a regular file: not read (it may block or never end); name it on its own to read it anyway, or move it out of the directory",
                "error /logs/self: symbolic link loop (Too many levels of symbolic links (os error 40)); not followed",
            ]
        );
        // The same entries matched by a glob.
        let globbed = glob(&format!("{}/logs/*", root.display())).unwrap();
        let globbed = self::names(root, &globbed);
        assert_eq!(
            globbed,
            vec![
                "/logs/a.log",
                "error /logs/current.log: dangling symbolic link: its target rotated-away.log does not exist",
                "/logs/latest.log",
                "error /logs/pipe: a named pipe, not a regular file: not read (it may block or never end); name it on its own to read it anyway, or move it out of the directory",
                "error /logs/self: symbolic link loop (Too many levels of symbolic links (os error 40)); not followed",
            ]
        );
    }

    /// Runs `f` on this thread without the capabilities that let root read any file
    /// (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so that file modes bind as they do for
    /// the service accounts runlens runs under; tests run as root in CI. Capabilities
    /// belong to a thread on Linux: other tests are not affected, and the effective
    /// set comes back afterwards (the permitted set is untouched).
    fn without_root_file_access<T>(f: impl FnOnce() -> T) -> T {
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        #[derive(Clone, Copy, Default)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        const VERSION_3: u32 = 0x2008_0522;
        const DAC: u32 = (1 << 1) | (1 << 2);
        let header = Header {
            version: VERSION_3,
            pid: 0,
        };
        let mut saved = [Data::default(); 2];
        // SAFETY: capget/capset with a version-3 header and two data words, as
        // capget(2) documents; pid 0 is the calling thread.
        unsafe {
            assert_eq!(
                libc::syscall(libc::SYS_capget, &header, saved.as_mut_ptr()),
                0
            );
            let mut reduced = saved;
            reduced[0].effective &= !DAC;
            assert_eq!(
                libc::syscall(libc::SYS_capset, &header, reduced.as_ptr()),
                0
            );
        }
        let result = f();
        unsafe {
            assert_eq!(libc::syscall(libc::SYS_capset, &header, saved.as_ptr()), 0);
        }
        result
    }

    #[test]
    fn unreadable_directories_are_errors_not_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("logs/locked")).unwrap();
        std::fs::write(root.join("logs/a.log"), "x").unwrap();
        std::fs::write(root.join("logs/locked/b.log"), "x").unwrap();
        let locked = root.join("logs/locked");
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        let found = without_root_file_access(|| {
            assert!(
                std::fs::read_dir(&locked).is_err(),
                "a mode 000 directory must be unreadable here"
            );
            directory(&root.join("logs"))
        });
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            names(root, &found),
            vec![
                "/logs/a.log",
                "error /logs/locked: cannot read: Permission denied (os error 13)",
            ]
        );
    }
}
