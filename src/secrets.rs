//! Secret references in the config: `${ENV_VAR}` or `file:PATH`, read when a layer needs the
//! value (never at parse time, never logged). A leaf: every layer may use it.

/// Reads a value that may be a secret reference: `${ENV_VAR}` or `file:PATH` (trailing newline
/// dropped); anything else is returned as written. Errors name `label`, never the secret.
pub fn resolve_secret(label: &str, value: &str) -> std::result::Result<String, String> {
    Ok(
        if let Some(var) = value.strip_prefix("${").and_then(|s| s.strip_suffix('}')) {
            std::env::var(var)
                .map_err(|_| format!("{label}: environment variable {var} is not set"))?
        } else if let Some(path) = value.strip_prefix("file:") {
            std::fs::read_to_string(path)
                .map_err(|e| format!("{label}: cannot read {path}: {e}"))?
                .trim_end_matches(['\n', '\r'])
                .to_string()
        } else {
            value.to_string()
        },
    )
}
