//! Fault injection: the rules a test pushes, and picking the rule that applies to a request.

use serde::{Deserialize, Serialize};

/// What the stub does instead of answering normally.
///
/// Serialized internally tagged: `{"kind":"status","status":500,"retry_after":3}`,
/// `{"kind":"hang"}`, `{"kind":"close"}`, `{"kind":"accept_then_close"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Answer this status with a SendGrid-style error body. `retry_after` (seconds) sets the
    /// `Retry-After` header (and, for 429, the `X-RateLimit-Reset` offset).
    Status {
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u32>,
    },
    /// Never answer: hold the request open (for up to 10 minutes, then 504) until the client
    /// gives up.
    Hang,
    /// Drop the TCP connection (with a reset) without writing any HTTP answer.
    Close,
    /// Accept the email (it counts as delivered, as with a 202), then drop the connection before
    /// answering: the sender cannot know the email went out.
    AcceptThenClose,
}

impl Fault {
    /// Answer `status` (without `Retry-After`).
    pub fn status(status: u16) -> Fault {
        Fault::Status {
            status,
            retry_after: None,
        }
    }

    /// Short label recorded in [`super::Attempt::fault`]: `status:500`, `hang` or `close`.
    pub fn label(&self) -> String {
        match self {
            Fault::Status { status, .. } => format!("status:{status}"),
            Fault::Hang => "hang".to_owned(),
            Fault::Close => "close".to_owned(),
            Fault::AcceptThenClose => "accept_then_close".to_owned(),
        }
    }
}

/// A fault plus when it applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRule {
    pub fault: Fault,
    /// How many matching requests it applies to; `None` = forever.
    #[serde(default)]
    pub count: Option<u32>,
    /// Only requests whose raw body contains this substring; `None` = every request.
    #[serde(default)]
    pub matching: Option<String>,
}

impl FaultRule {
    /// A rule that applies to the next `count` mail-send requests.
    pub fn times(fault: Fault, count: u32) -> FaultRule {
        FaultRule {
            fault,
            count: Some(count),
            matching: None,
        }
    }

    /// A rule that applies to every mail-send request until removed.
    pub fn always(fault: Fault) -> FaultRule {
        FaultRule {
            fault,
            count: None,
            matching: None,
        }
    }

    /// Restricts the rule to requests whose raw body contains `needle`.
    pub fn matching(mut self, needle: impl Into<String>) -> FaultRule {
        self.matching = Some(needle.into());
        self
    }

    fn applies_to(&self, raw_body: &str) -> bool {
        self.count != Some(0)
            && self
                .matching
                .as_deref()
                .is_none_or(|needle| raw_body.contains(needle))
    }
}

/// Picks the first rule (in insertion order) that applies to `raw_body`, decrements its count,
/// removes it once exhausted, and returns its fault.
pub(crate) fn take_fault(rules: &mut Vec<FaultRule>, raw_body: &str) -> Option<Fault> {
    let index = rules.iter().position(|rule| rule.applies_to(raw_body))?;
    let fault = rules[index].fault.clone();
    if let Some(count) = rules[index].count.as_mut() {
        *count -= 1;
        if *count == 0 {
            rules.remove(index);
        }
    }
    Some(fault)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> Fault {
        Fault::Status {
            status,
            retry_after: None,
        }
    }

    #[test]
    fn first_matching_rule_wins_and_is_used_up() {
        let mut rules = vec![
            FaultRule::times(status(500), 2).matching("needle"),
            FaultRule::times(status(503), 1),
        ];
        assert_eq!(take_fault(&mut rules, "a needle here"), Some(status(500)));
        assert_eq!(take_fault(&mut rules, "nothing"), Some(status(503)));
        assert_eq!(take_fault(&mut rules, "nothing"), None);
        assert_eq!(take_fault(&mut rules, "needle"), Some(status(500)));
        assert!(rules.is_empty());
    }

    #[test]
    fn forever_rules_stay() {
        let mut rules = vec![FaultRule::always(Fault::Hang)];
        for _ in 0..5 {
            assert_eq!(take_fault(&mut rules, ""), Some(Fault::Hang));
        }
        assert_eq!(rules.len(), 1);
    }

    #[test]
    fn serde_shape() {
        let rule: FaultRule =
            serde_json::from_str(r#"{"fault":{"kind":"status","status":429,"retry_after":3}}"#)
                .unwrap();
        assert_eq!(
            rule.fault,
            Fault::Status {
                status: 429,
                retry_after: Some(3)
            }
        );
        assert_eq!(rule.count, None);
        assert_eq!(
            serde_json::to_value(Fault::Close).unwrap(),
            serde_json::json!({"kind":"close"})
        );
    }
}
