//! Configuration: the TOML file (interface: `shared/design/config.example.toml`) parsed once at
//! start into typed values. Every error names the file, the line and the key path. Relative
//! paths resolve against the config file's directory. Secrets are read here (from environment
//! variables or files, never inline) into [`SecretKey`]s; nothing past this module sees a raw
//! string from the file.

// Configuration errors happen once, at start-up; their size does not matter.
#![allow(clippy::result_large_err)]

mod build;
mod defaults;
mod error;
mod fields;
mod raw;
mod store;
mod typed;
mod units;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use defaults::DEFAULT_CONFIG_PATH;
pub(crate) use defaults::*;
pub use error::ConfigError;
pub(crate) use error::ConfigErrorKind;
pub use typed::*;
pub use units::parse_duration;
pub(crate) use units::parse_size;

use crate::secret::SecretKey;

/// Where secrets named by `*_env` keys are looked up. `main` passes the process environment;
/// tests and `demo` pass their own, so nothing mutates the global environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment as an [`EnvLookup`].
fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Config {
    /// Reads and validates the file at `path`, with secrets from the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with_env(path, &process_env)
    }

    /// Reads and validates the file at `path`, looking `*_env` secrets up in `env`.
    pub fn load_with_env(path: &Path, env: EnvLookup<'_>) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            line: None,
            key: String::new(),
            kind: ConfigErrorKind::Read(e),
        })?;
        Self::parse(&text, path, env)
    }

    /// Validates `text` as if read from `path` (relative paths resolve against its directory).
    pub fn parse(text: &str, path: &Path, env: EnvLookup<'_>) -> Result<Config, ConfigError> {
        let ctx = Ctx::new(text, path);
        let raw: raw::RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| ctx.line_of(s.start));
            ConfigError {
                file: ctx.file.clone(),
                line,
                key: line.map(|l| key_path_at(text, l)).unwrap_or_default(),
                kind: ConfigErrorKind::Syntax(first_line(e.message()).to_owned()),
            }
        })?;
        build::build(raw, &ctx, env)
    }
}

/// What error construction needs: the file's name, its text, and its directory.
struct Ctx<'a> {
    file: String,
    text: &'a str,
    dir: PathBuf,
}

impl<'a> Ctx<'a> {
    fn new(text: &'a str, path: &Path) -> Self {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Self {
            file: path.display().to_string(),
            text,
            dir,
        }
    }

    /// 1-based line of a byte offset.
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    pub(crate) fn err(
        &self,
        span: std::ops::Range<usize>,
        key: impl Into<String>,
        kind: ConfigErrorKind,
    ) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            line: Some(self.line_of(span.start)),
            key: key.into(),
            kind,
        }
    }

    fn err_nowhere(&self, key: impl Into<String>, kind: ConfigErrorKind) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            line: None,
            key: key.into(),
            kind,
        }
    }

    /// `p` made absolute against the config file's directory.
    pub(crate) fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

/// The dotted key path of the key on 1-based `line`: the nearest table header above it (with
/// the index of an array-of-tables entry) plus the key written on that line.
fn key_path_at(text: &str, line: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let here = lines
        .get(line.saturating_sub(1))
        .copied()
        .unwrap_or("")
        .trim();
    let key = if here.starts_with('[') {
        ""
    } else {
        here.split('=').next().unwrap_or("").trim()
    };
    let mut header = String::new();
    for (i, l) in lines
        .iter()
        .enumerate()
        .take(line.saturating_sub(1) + 1)
        .rev()
    {
        let l = l.trim();
        if let Some(name) = l.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim();
            let index = lines[..i]
                .iter()
                .filter(|x| {
                    x.trim()
                        .strip_prefix("[[")
                        .and_then(|r| r.split("]]").next())
                        .map(str::trim)
                        == Some(name)
                })
                .count();
            header = format!("{name}[{index}]");
            break;
        }
        if let Some(name) = l.strip_prefix('[').and_then(|r| r.split(']').next()) {
            header = name.trim().to_owned();
            break;
        }
    }
    match (header.is_empty(), key.is_empty()) {
        (true, _) => key.to_owned(),
        (false, true) => header,
        (false, false) => format!("{header}.{key}"),
    }
}

/// Reads a secret named by an `_env` or `_file` key.
fn read_secret(
    owner: &str,
    env_var: Option<&str>,
    file: Option<&Path>,
    env: EnvLookup<'_>,
    validate: fn(&str) -> Result<SecretKey, crate::secret::SecretError>,
) -> Result<(SecretKey, SecretSource), ConfigErrorKind> {
    let (text, source) = match (env_var, file) {
        (Some(var), None) => (
            env(var).ok_or_else(|| ConfigErrorKind::MissingEnv {
                owner: owner.to_owned(),
                var: var.to_owned(),
            })?,
            SecretSource::Env(var.to_owned()),
        ),
        (None, Some(path)) => (
            std::fs::read_to_string(path).map_err(|source| ConfigErrorKind::SecretFile {
                owner: owner.to_owned(),
                path: path.to_path_buf(),
                source,
            })?,
            SecretSource::File(path.to_path_buf()),
        ),
        _ => return Err(ConfigErrorKind::SecretSource(owner.to_owned())),
    };
    let key = validate(&text).map_err(|source| ConfigErrorKind::BadSecret {
        owner: owner.to_owned(),
        source,
    })?;
    Ok((key, source))
}
