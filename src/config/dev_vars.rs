//! Local secrets, as `wrangler dev` reads them from beside the config: `.dev.vars` if it exists,
//! else the `.env` files (`.env.local` over `.env`), in dotenv syntax. They join the Worker's
//! `env` as strings, over `vars` of the same name. With `secrets.required` in the config, only
//! the keys it lists are taken, and a missing one is a warning.

use std::path::Path;

use serde_json::{Map, Value};

use super::location::Position;
use super::{ConfigError, ConfigWarning, SourceLocation};

/// The files read, most specific first; a key takes the value of the first file that has it.
/// With an environment, `.dev.vars.<env>` alone when it exists, else `.dev.vars`; when neither
/// exists, the `.env` files (`.env.<env>.local`, `.env.local`, `.env.<env>`, `.env`), merged.
fn files(dir: &Path, env: Option<&str>) -> Vec<std::path::PathBuf> {
    let mut dev_vars: Vec<String> = env.map(|env| format!(".dev.vars.{env}")).into_iter().collect();
    dev_vars.push(".dev.vars".to_owned());
    if let Some(found) = dev_vars.iter().map(|name| dir.join(name)).find(|path| path.is_file()) {
        return vec![found];
    }
    let names: Vec<String> = match env {
        Some(env) => vec![format!(".env.{env}.local"), ".env.local".into(), format!(".env.{env}"), ".env".into()],
        None => vec![".env.local".into(), ".env".into()],
    };
    names.iter().map(|name| dir.join(name)).filter(|path| path.is_file()).collect()
}

/// The secrets for the Worker whose config is in `dir`, with warnings about required ones that
/// are missing. A line the dotenv syntax cannot read is an error naming its file and line.
pub(super) fn read(
    dir: &Path,
    env: Option<&str>,
    required: Option<&[String]>,
) -> Result<(Map<String, Value>, Vec<ConfigWarning>), ConfigError> {
    let mut secrets = Map::new();
    let mut read_from = Vec::new();
    for path in files(dir, env) {
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io { path: path.clone(), source })?;
        for item in dotenvy::from_read_iter(text.as_bytes()) {
            let (key, value) = item.map_err(|error| syntax_error(&path, &text, error))?;
            secrets.entry(key).or_insert(Value::String(value));
        }
        read_from.push(path);
    }
    let mut warnings = Vec::new();
    if let Some(required) = required {
        secrets.retain(|key, _| required.contains(key));
        let at = read_from.first().cloned().unwrap_or_else(|| dir.join(".dev.vars"));
        for key in required.iter().filter(|key| !secrets.contains_key(*key)) {
            warnings.push(ConfigWarning {
                location: SourceLocation::new(&at, Position::START),
                message: format!("secret {key:?} is in secrets.required but not set in .dev.vars or .env"),
            });
        }
    }
    Ok((secrets, warnings))
}

/// dotenvy names the line it could not read by its text: find its number for the location.
fn syntax_error(path: &Path, text: &str, error: dotenvy::Error) -> ConfigError {
    let (line, column) = match &error {
        dotenvy::Error::LineParse(content, index) => {
            let number =
                text.lines().position(|line| content.starts_with(line) && !line.is_empty()).map_or(1, |n| n + 1);
            (number, index + 1)
        }
        _ => (1, 1),
    };
    ConfigError::Syntax {
        location: SourceLocation::new(path, Position { line, column }),
        message: format!("not a dotenv line (KEY=value): {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn dev_vars_win_over_dot_env_which_merge_local_first() {
        let dir = dir_with(&[(".env", "A=from-env\nB=from-env\n"), (".env.local", "B=\"from local\" # comment\n")]);
        let (secrets, warnings) = read(dir.path(), None, None).unwrap();
        assert_eq!(Value::Object(secrets), serde_json::json!({ "A": "from-env", "B": "from local" }));
        assert!(warnings.is_empty());

        std::fs::write(dir.path().join(".dev.vars"), "SECRET='s3cret'\nexport OTHER=1\n").unwrap();
        let (secrets, _) = read(dir.path(), None, None).unwrap();
        assert_eq!(Value::Object(secrets), serde_json::json!({ "SECRET": "s3cret", "OTHER": "1" }), ".env is not read");
    }

    #[test]
    fn an_environment_reads_its_own_files_first() {
        let dir = dir_with(&[(".dev.vars", "A=generic\n"), (".dev.vars.staging", "A=staging\n")]);
        let (secrets, _) = read(dir.path(), Some("staging"), None).unwrap();
        assert_eq!(Value::Object(secrets), serde_json::json!({ "A": "staging" }), ".dev.vars.staging alone");
        let (secrets, _) = read(dir.path(), Some("prod"), None).unwrap();
        assert_eq!(Value::Object(secrets), serde_json::json!({ "A": "generic" }));

        let dir = dir_with(&[
            (".env", "A=env\nB=env\nC=env\n"),
            (".env.staging", "B=staging\nC=staging\n"),
            (".env.staging.local", "C=local\n"),
        ]);
        let (secrets, _) = read(dir.path(), Some("staging"), None).unwrap();
        assert_eq!(Value::Object(secrets), serde_json::json!({ "A": "env", "B": "staging", "C": "local" }));
    }

    #[test]
    fn required_secrets_filter_and_warn() {
        let dir = dir_with(&[(".dev.vars", "KEEP=1\nDROP=2\n")]);
        let required = ["KEEP".to_owned(), "MISSING".to_owned()];
        let (secrets, warnings) = read(dir.path(), None, Some(&required)).unwrap();
        assert_eq!(Value::Object(secrets), serde_json::json!({ "KEEP": "1" }));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].message.contains("\"MISSING\""), "{}", warnings[0]);
    }

    #[test]
    fn a_bad_line_names_its_file_and_line() {
        let dir = dir_with(&[(".dev.vars", "GOOD=1\nthis is not dotenv\n")]);
        let error = read(dir.path(), None, None).unwrap_err().to_string();
        assert!(error.contains(".dev.vars:2:"), "{error}");
    }
}
