//! Env options: a TOML table per env, parsed into each env's typed options struct.

use crate::error::{Result, SimError};
use serde::de::DeserializeOwned;

/// Options passed to [`crate::make`]: the `[env]` table of a config, or `--option k=v` pairs.
pub type EnvConfig = toml::Table;

/// Parse an env's typed options. Options structs use `#[serde(deny_unknown_fields)]`, so an
/// unknown option is reported with the list of allowed ones.
pub fn parse_options<T: DeserializeOwned>(id: &str, cfg: &EnvConfig) -> Result<T> {
    T::deserialize(toml::Value::Table(cfg.clone())).map_err(|e| SimError::BadOptions {
        id: id.to_string(),
        message: e.to_string().trim().to_string(),
    })
}

/// Parse `key=value` (as on a command line) into a TOML value: numbers, booleans and
/// quoted strings parse as TOML; anything else is taken as a bare string.
pub fn parse_kv(pair: &str) -> Result<(String, toml::Value)> {
    let (k, v) = pair.split_once('=').ok_or_else(|| {
        SimError::Invalid(format!("option `{pair}` is not of the form key=value"))
    })?;
    let k = k.trim().to_string();
    let v = v.trim();
    let value = format!("v = {v}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(v.to_string()));
    Ok((k, value))
}

/// Return an error naming `option` when `ok` is false.
pub fn ensure(ok: bool, id: &str, option: &str, message: impl Into<String>) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(SimError::BadOptionValue {
            id: id.to_string(),
            option: option.to_string(),
            message: message.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Opts {
        #[serde(default)]
        frameskip: u32,
    }

    #[test]
    fn unknown_option_names_the_allowed_ones() {
        let mut cfg = EnvConfig::new();
        cfg.insert("frame_skip".into(), toml::Value::Integer(2));
        let err = parse_options::<Opts>("Pong-v0", &cfg)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Pong-v0"), "{err}");
        assert!(err.contains("frame_skip"), "{err}");
        assert!(err.contains("frameskip"), "{err}");
    }

    #[test]
    fn kv_pairs_parse_as_toml() {
        assert_eq!(parse_kv("a=3").unwrap().1, toml::Value::Integer(3));
        assert_eq!(parse_kv("a=0.25").unwrap().1, toml::Value::Float(0.25));
        assert_eq!(parse_kv("a=true").unwrap().1, toml::Value::Boolean(true));
        assert_eq!(
            parse_kv("a=rgb").unwrap().1,
            toml::Value::String("rgb".into())
        );
        assert!(parse_kv("novalue").is_err());
    }
}
