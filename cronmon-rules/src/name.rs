//! Cron names.

use crate::limits::CRON_NAME_MAX_CHARS;
use crate::{Result, RuleError};

/// Checks a cron name: 1 to [`CRON_NAME_MAX_CHARS`] characters, no control characters, no
/// white space at either end. The field is `cronName`.
///
/// ```
/// use cronmon_rules::cron_name;
/// assert!(cron_name("nightly-report").is_ok());
/// assert_eq!(cron_name("").unwrap_err().message, "a cron name cannot be empty");
/// assert!(cron_name("bad\nname").is_err());
/// assert!(cron_name(" padded").is_err());
/// ```
pub fn cron_name(name: &str) -> Result {
    let refuse = |message: String| Err(RuleError::new("cronName", message));
    let chars = name.chars().count();
    if chars == 0 {
        return refuse("a cron name cannot be empty".into());
    }
    if chars > CRON_NAME_MAX_CHARS {
        return refuse(format!(
            "a cron name has at most {CRON_NAME_MAX_CHARS} characters, this one has {chars}"
        ));
    }
    if name.chars().any(char::is_control) {
        return refuse("a cron name cannot hold control characters".into());
    }
    if name.trim() != name {
        return refuse("a cron name cannot start or end with white space".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_of_a_name() {
        assert!(cron_name(&"x".repeat(CRON_NAME_MAX_CHARS)).is_ok());
        // Characters, not bytes: 128 two-byte characters are fine.
        assert!(cron_name(&"é".repeat(CRON_NAME_MAX_CHARS)).is_ok());
        let long = cron_name(&"x".repeat(CRON_NAME_MAX_CHARS + 1)).unwrap_err();
        assert_eq!(long.field, "cronName");
        assert!(long.message.contains("at most 128"), "{long}");
        assert!(cron_name("tab\there").is_err());
        assert!(cron_name("trailing ").is_err());
        assert!(cron_name("with inner space").is_ok());
    }
}
