//! Atomic, private file writes for keyfiles.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::KeyfileError;

/// Removes the temporary file unless the write completed.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            // Best effort: the write already failed and that error is what the caller sees.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Writes `bytes` to `path` through a fsynced temporary file in the same directory, so a
/// crash leaves either the old file or the new one, never a partial key.
pub(super) fn write_atomic(path: &Path, bytes: &[u8], overwrite: bool) -> Result<(), KeyfileError> {
    let io_err = |p: &Path| {
        let p = p.to_owned();
        move |source| KeyfileError::Io { path: p, source }
    };
    let exists = || KeyfileError::AlreadyExists {
        path: path.to_owned(),
    };
    let name = path.file_name().ok_or_else(|| KeyfileError::Io {
        path: path.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "not a file path"),
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    if !overwrite && path.symlink_metadata().is_ok() {
        return Err(exists());
    }
    let mut suffix = [0u8; 8];
    rand::fill(&mut suffix);
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", hex::encode(suffix)));
    let mut tmp = TempFile {
        path: dir.join(tmp_name),
        keep: false,
    };

    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp.path).map_err(io_err(&tmp.path))?;
    #[cfg(unix)]
    {
        // The umask can only clear bits of 0600; set it exactly anyway.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io_err(&tmp.path))?;
    }
    file.write_all(bytes).map_err(io_err(&tmp.path))?;
    file.sync_all().map_err(io_err(&tmp.path))?;
    drop(file);

    if overwrite {
        fs::rename(&tmp.path, path).map_err(io_err(path))?;
        tmp.keep = true;
    } else {
        // A hard link fails if the target exists, so two writers cannot both win; file systems
        // without hard links fall back to the (racy) existence check above and a rename.
        match fs::hard_link(&tmp.path, path) {
            Ok(()) => fs::remove_file(&tmp.path).map_err(io_err(&tmp.path))?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(exists()),
            Err(_) => {
                if path.symlink_metadata().is_ok() {
                    return Err(exists());
                }
                fs::rename(&tmp.path, path).map_err(io_err(path))?;
            }
        }
        tmp.keep = true;
    }
    #[cfg(unix)]
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(&dir))?;
    Ok(())
}
