//! Output files that are checked before any work starts and appear only when complete.
//!
//! A command that writes a file (`capture -o`, `import-strace -o`, `export -o`) opens it with
//! [`Output::create`] first: a missing folder, a folder without write permission or an
//! existing file (without `--force`) is reported before the program runs or the input is
//! read. The data goes to `NAME.partial` beside the target, and [`Output::commit`] moves it
//! into place; without `--force` the move fails rather than replace a file that appeared in
//! the meantime. [`Output::discard`] removes the partial file when there is nothing to keep.
//! A capture that is killed outright leaves its `NAME.partial`, which holds what was
//! recorded up to then.

use std::fmt::{self, Display, Formatter};
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// A file being written: the target and the partial file that becomes it.
#[derive(Debug)]
pub struct Output {
    target: PathBuf,
    partial: PathBuf,
    force: bool,
}

/// Why an output file cannot be written.
#[derive(Debug)]
pub enum OutputError {
    /// The target exists and `--force` was not given.
    Exists(PathBuf),
    /// The target appeared while the data was written; the data stays in the partial file.
    Appeared {
        /// The target.
        target: PathBuf,
        /// The partial file, which holds the data.
        kept: PathBuf,
    },
    /// The file system refused.
    Io {
        /// The file.
        path: PathBuf,
        /// What it said.
        source: io::Error,
    },
}

impl Display for OutputError {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            OutputError::Exists(path) => write!(
                f,
                "{} exists (give --force to replace it, or -o another name)",
                path.display()
            ),
            OutputError::Appeared { target, kept } => write!(
                f,
                "{} appeared meanwhile and was left alone; the data is in {}",
                target.display(),
                kept.display()
            ),
            OutputError::Io { path, source } => {
                write!(
                    f,
                    "cannot write {}: {}",
                    path.display(),
                    crate::cli::describe(source)
                )
            }
        }
    }
}

impl std::error::Error for OutputError {}

impl Output {
    /// Checks that `target` can be written (and, without `force`, does not exist) and creates
    /// its partial file, which is returned open for writing.
    ///
    /// # Errors
    /// [`OutputError::Exists`], or [`OutputError::Io`] when the partial file cannot be
    /// created (a missing folder, no permission).
    ///
    /// # Examples
    /// ```
    /// use maple_cli::output::Output;
    /// let dir = std::env::temp_dir().join(format!("maple-output-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let target = dir.join("a.txt");
    /// let (output, mut file) = Output::create(&target, false)?;
    /// std::io::Write::write_all(&mut file, b"done")?;
    /// output.commit()?;
    /// assert_eq!(std::fs::read_to_string(&target)?, "done");
    /// // Without force, an existing file is refused before anything is written.
    /// assert!(Output::create(&target, false).is_err());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create(target: &Path, force: bool) -> Result<(Output, File), OutputError> {
        if !force && target.symlink_metadata().is_ok() {
            return Err(OutputError::Exists(target.to_owned()));
        }
        let mut name = target.file_name().unwrap_or_default().to_owned();
        name.push(".partial");
        let partial = target.with_file_name(name);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&partial)
            .map_err(|source| OutputError::Io {
                path: target.to_owned(),
                source,
            })?;
        let output = Output {
            target: target.to_owned(),
            partial,
            force,
        };
        Ok((output, file))
    }

    /// The file the data goes to until [`Output::commit`].
    pub fn partial(&self) -> &Path {
        &self.partial
    }

    /// The file the data is for.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Moves the partial file into place. Without `force`, a target that appeared since
    /// [`Output::create`] is not replaced (the partial file stays, and the error says so).
    ///
    /// # Errors
    /// [`OutputError::Appeared`] or the file system's refusal.
    pub fn commit(self) -> Result<(), OutputError> {
        let io_error = |source| OutputError::Io {
            path: self.target.clone(),
            source,
        };
        if self.force {
            return std::fs::rename(&self.partial, &self.target).map_err(io_error);
        }
        // A hard link fails if the target exists: no window in which it could be replaced.
        match std::fs::hard_link(&self.partial, &self.target) {
            Ok(()) => std::fs::remove_file(&self.partial).map_err(io_error),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(OutputError::Appeared {
                target: self.target.clone(),
                kept: self.partial.clone(),
            }),
            Err(e) => Err(io_error(e)),
        }
    }

    /// Removes the partial file: nothing is kept.
    pub fn discard(self) {
        let _ = std::fs::remove_file(&self.partial);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("maple-output-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A missing folder is reported at once, naming the target.
    #[test]
    fn missing_folder_fails_before_writing() {
        let dir = scratch("missing");
        let target = dir.join("no/such/x.mtrace.zst");
        let err = Output::create(&target, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot write {}: No such file or directory",
                target.display()
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An existing file is kept without force and replaced with it; a discarded output leaves
    /// nothing behind.
    #[test]
    fn existing_files_need_force() {
        let dir = scratch("force");
        let target = dir.join("x");
        std::fs::write(&target, "old").unwrap();
        assert!(matches!(
            Output::create(&target, false),
            Err(OutputError::Exists(_))
        ));
        let (output, file) = Output::create(&target, true).unwrap();
        std::fs::write(output.partial(), "new").unwrap();
        drop(file);
        output.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        let (output, _file) = Output::create(&dir.join("y"), false).unwrap();
        let partial = output.partial().to_owned();
        output.discard();
        assert!(!partial.exists());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A target that appears while the data is written is not replaced without force.
    #[test]
    fn commit_does_not_replace_a_file_that_appeared() {
        let dir = scratch("race");
        let target = dir.join("x");
        let (output, _file) = Output::create(&target, false).unwrap();
        std::fs::write(&target, "theirs").unwrap();
        assert!(matches!(output.commit(), Err(OutputError::Appeared { .. })));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "theirs");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
