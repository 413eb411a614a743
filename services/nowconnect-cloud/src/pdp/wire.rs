//! AuthZEN 1.0 access evaluation on the wire: the request the hub sends for a new stream and
//! the answers it accepts. Pure (no IO), so every shape a PDP may send is unit-tested here.

use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// The longest `ttl_sec` a PDP answer may ask for; larger values are clamped, so one bad
/// answer cannot pin an allow decision for days.
pub(crate) const MAX_TTL: Duration = Duration::from_secs(3600);

/// `POST {pdp.url}` body: may `agent` connect a client to `connector`?
#[derive(Debug, Serialize)]
pub(crate) struct EvaluationRequest<'a> {
    pub(crate) subject: Entity<'a>,
    pub(crate) action: Action,
    pub(crate) resource: Entity<'a>,
    pub(crate) context: Context<'a>,
}

/// An AuthZEN subject or resource.
#[derive(Debug, Serialize)]
pub(crate) struct Entity<'a> {
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) id: &'a str,
}

/// The AuthZEN action; always `connect`.
#[derive(Debug, Serialize)]
pub(crate) struct Action {
    pub(crate) name: &'static str,
}

/// Which hub asks, and for which audience.
#[derive(Debug, Serialize)]
pub(crate) struct Context<'a> {
    pub(crate) replica_id: &'a str,
    pub(crate) aud: &'a str,
}

impl<'a> EvaluationRequest<'a> {
    pub(crate) fn connect(agent_id: &'a str, connector: &'a str, ctx: Context<'a>) -> Self {
        EvaluationRequest {
            subject: Entity {
                kind: "agent",
                id: agent_id,
            },
            action: Action { name: "connect" },
            resource: Entity {
                kind: "connector",
                id: connector,
            },
            context: ctx,
        }
    }
}

/// What a PDP answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) allow: bool,
    /// `ttl_sec` from the answer (top level, else in its `context`), clamped to [`MAX_TTL`].
    pub(crate) ttl: Option<Duration>,
}

/// Reads an answer body: `{"decision": bool}` (AuthZEN 1.0) or `{"allow": bool}` (older
/// servers); `decision` wins when both are present. Anything else is an error (and the
/// caller treats it like an unreachable PDP).
pub(crate) fn parse_answer(body: &[u8]) -> Result<Answer, &'static str> {
    let value: Value = serde_json::from_slice(body).map_err(|_| "answer is not JSON")?;
    let Value::Object(obj) = &value else {
        return Err("answer is not a JSON object");
    };
    let allow = match (obj.get("decision"), obj.get("allow")) {
        (Some(Value::Bool(d)), _) => *d,
        (Some(_), _) => return Err("`decision` is not a boolean"),
        (None, Some(Value::Bool(a))) => *a,
        (None, Some(_)) => return Err("`allow` is not a boolean"),
        (None, None) => return Err("answer has neither `decision` nor `allow`"),
    };
    let ttl = obj
        .get("ttl_sec")
        .or_else(|| obj.get("context").and_then(|c| c.get("ttl_sec")))
        .map(|t| match t.as_f64() {
            Some(secs) if secs.is_finite() && secs >= 0.0 => {
                Ok(Duration::from_secs_f64(secs.min(MAX_TTL.as_secs_f64())))
            }
            _ => Err("`ttl_sec` is not a non-negative number"),
        })
        .transpose()?;
    Ok(Answer { allow, ttl })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_the_authzen_shape() {
        let ctx = Context {
            replica_id: "hub-1",
            aud: "nowconnect",
        };
        let body = serde_json::to_value(EvaluationRequest::connect("a1", "ldap", ctx)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "subject": {"type": "agent", "id": "a1"},
                "action": {"name": "connect"},
                "resource": {"type": "connector", "id": "ldap"},
                "context": {"replica_id": "hub-1", "aud": "nowconnect"},
            })
        );
    }

    #[test]
    fn answers_in_both_shapes_with_optional_ttl() {
        let ok = |b: &str| parse_answer(b.as_bytes());
        let answer = |allow, ttl: Option<u64>| {
            Ok(Answer {
                allow,
                ttl: ttl.map(Duration::from_secs),
            })
        };
        assert_eq!(ok(r#"{"decision": true}"#), answer(true, None));
        assert_eq!(ok(r#"{"decision": false}"#), answer(false, None));
        assert_eq!(ok(r#"{"allow": true}"#), answer(true, None));
        assert_eq!(ok(r#"{"allow": false, "x": 1}"#), answer(false, None));
        assert_eq!(
            ok(r#"{"decision": false, "allow": true}"#),
            answer(false, None)
        );
        assert_eq!(
            ok(r#"{"decision": true, "ttl_sec": 30}"#),
            answer(true, Some(30))
        );
        assert_eq!(
            ok(r#"{"decision": true, "context": {"ttl_sec": 0}}"#),
            answer(true, Some(0))
        );
        assert_eq!(
            ok(r#"{"decision": true, "ttl_sec": 1e9}"#),
            Ok(Answer {
                allow: true,
                ttl: Some(MAX_TTL)
            })
        );
    }

    #[test]
    fn garbage_is_an_error() {
        for body in [
            "",
            "not json",
            "[true]",
            "true",
            "{}",
            r#"{"decision": "yes"}"#,
            r#"{"allow": 1}"#,
            r#"{"decision": null}"#,
            r#"{"decision": true, "ttl_sec": -1}"#,
            r#"{"decision": true, "ttl_sec": "5"}"#,
        ] {
            assert!(parse_answer(body.as_bytes()).is_err(), "{body:?}");
        }
    }
}
