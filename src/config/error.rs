//! `ConfigError`: what is wrong with the configuration, where (file, line, key path), and why.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

use crate::secret::SecretError;

/// One configuration problem. `Display` gives `config.toml:23: routes[2].upstream: message`.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// The file as the operator named it.
    pub(crate) file: String,
    /// 1-based line, when the problem has a place in the file.
    pub(crate) line: Option<usize>,
    /// Dotted key path, e.g. `routes[2].upstream`; empty for the file as a whole.
    pub(crate) key: String,
    #[source]
    pub(crate) kind: ConfigErrorKind,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.kind)
    }
}

/// The reasons a configuration is refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigErrorKind {
    #[error("cannot read: {0}")]
    Read(#[source] std::io::Error),
    #[error("{0}")]
    Syntax(String),
    #[error("{what}: {value:?} ({expected})")]
    Invalid {
        what: &'static str,
        value: String,
        expected: Cow<'static, str>,
    },
    #[error("no upstream named {0:?}")]
    UnknownUpstream(String),
    #[error("prefix {0:?} is listed twice")]
    DuplicatePrefix(String),
    #[error("{0}")]
    Missing(&'static str),
    /// A key whose value needs another key set, e.g. `proxy_protocol` needs trusted proxies.
    #[error("needs {0}")]
    Needs(&'static str),
    #[error("{owner}: environment variable {var} is not set")]
    MissingEnv { owner: String, var: String },
    #[error("{owner}: cannot read secret file {path}: {source}")]
    SecretFile {
        owner: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{owner}: the secret {source}")]
    BadSecret {
        owner: String,
        #[source]
        source: SecretError,
    },
    #[error("{0}: set exactly one of the _env and _file keys (never the secret inline)")]
    SecretSource(String),
    #[error("config_id {0:?} is listed twice")]
    DuplicateChannel(String),
}
