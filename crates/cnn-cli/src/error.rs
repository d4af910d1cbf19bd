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
