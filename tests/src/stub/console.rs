//! One-line, privacy-preserving descriptions of mail-send attempts for a terminal.

use super::state::Attempt;
use serde_json::Value;

/// `alice@example.com` → `a***@example.com`; anything without `@` → `***`.
pub fn mask_email(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// `202 subject="Booking confirmed" to=a***@example.com` (plus ` fault=...` when injected).
pub fn describe_attempt(attempt: &Attempt) -> String {
    let body = &attempt.body;
    let mut line = if attempt.status == 0 {
        "---".to_owned()
    } else {
        attempt.status.to_string()
    };
    if body.is_null() {
        line.push_str(" (body not JSON)");
    } else {
        let subject = body
            .get("subject")
            .and_then(Value::as_str)
            .or_else(|| body.pointer("/personalizations/0/subject")?.as_str())
            .unwrap_or("");
        line.push_str(&format!(" subject={subject:?}"));
        let to: Vec<String> = body
            .get("personalizations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("to")?.as_array())
            .flatten()
            .filter_map(|t| t.get("email")?.as_str())
            .map(mask_email)
            .collect();
        if !to.is_empty() {
            line.push_str(&format!(" to={}", to.join(",")));
        }
    }
    if let Some(fault) = &attempt.fault {
        line.push_str(&format!(" fault={fault}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_addresses() {
        assert_eq!(mask_email("alice@example.com"), "a***@example.com");
        assert_eq!(mask_email("@example.com"), "***@example.com");
        assert_eq!(mask_email("nobody"), "***");
    }

    #[test]
    fn describes_without_full_addresses() {
        let attempt = Attempt {
            status: 202,
            body: json!({
                "subject": "Booking confirmed",
                "personalizations": [{"to": [{"email": "bob@example.com"}]}]
            }),
            fault: None,
            key: None,
        };
        let line = describe_attempt(&attempt);
        assert_eq!(
            line,
            "202 subject=\"Booking confirmed\" to=b***@example.com"
        );
        assert!(!line.contains("bob@"));
    }
}
