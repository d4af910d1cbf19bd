//! The CLI's error style: `error: <what> (<where>): <why>`, exit code 2 for bad input.

use std::fmt;

/// An error caused by the user's input (bad file, bad flag); exits with code 2.
#[derive(Debug)]
pub struct UserError {
    what: String,
    location: String,
    why: String,
    hint: Option<String>,
}

impl UserError {
    /// `what` went wrong at `location` (a file, `file:line`, or a flag) because of `why`.
    pub fn new(what: &str, location: String, why: String) -> Self {
        UserError {
            what: what.to_string(),
            location,
            why,
            hint: None,
        }
    }

    /// Adds a hint printed on its own line.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The hint, if any.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.location.is_empty() {
            write!(f, "{}: {}", self.what, self.why)
        } else {
            write!(f, "{} ({}): {}", self.what, self.location, self.why)
        }
    }
}

impl std::error::Error for UserError {}

/// Any error of a command: bad input (exit 2) or a failure while doing the work (exit 1).
#[derive(Debug)]
pub enum CliError {
    /// The user's input is wrong.
    User(UserError),
    /// The work failed (disk full, training diverged, ...).
    Failure(anyhow::Error),
    /// Stopped by Ctrl-C after saving what was done (exit 130).
    Interrupted(String),
}

impl From<UserError> for CliError {
    fn from(e: UserError) -> Self {
        CliError::User(e)
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::Failure(e)
    }
}

/// Shorthand for command results.
pub type CliResult<T> = Result<T, CliError>;

/// Turns a library error about user input into a [`UserError`] at `location`.
pub fn bad_input(what: &str, location: impl Into<String>, e: impl std::fmt::Display) -> UserError {
    UserError::new(what, location.into(), e.to_string())
}

/// Saves a PNG atomically, creating its directory first; errors name the file.
pub fn save_png_creating(img: &cnn_viz::RgbImage, path: &std::path::Path) -> CliResult<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| bad_input("cannot create", dir.display().to_string(), e))?;
    }
    cnn_viz::save_png(img, path).map_err(|e| CliError::Failure(anyhow::anyhow!(e)))
}
