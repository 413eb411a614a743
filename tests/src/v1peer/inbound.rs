//! Reading one V1 message from the other side: parsed as JSON, checked against the V1 table,
//! and handed to the stream it names (or to the agent's OPEN handling).

use super::MAX_WS_PAYLOAD;
use super::observed::{note, violation};
use super::tunnel::{Inbound, Side, Tunnel};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use std::sync::Arc;

impl Tunnel {
    pub(super) fn on_text(self: &Arc<Self>, text: &str) {
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return violation(&self.log, format!("text message is not JSON: {e}")),
        };
        let Some(obj) = value.as_object() else {
            return violation(&self.log, "text message is not a JSON object".into());
        };
        let str_field = |name: &str| obj.get(name).and_then(Value::as_str).map(str::to_owned);
        let t = str_field("t").unwrap_or_default();
        let expected = match self.side {
            Side::Agent => ["OPEN", "DATA", "FIN", "RST"].contains(&t.as_str()),
            Side::Hub => ["DATA", "FIN", "RST"].contains(&t.as_str()),
        };
        if !expected {
            return violation(
                &self.log,
                format!(
                    "unexpected message type {t:?} received by the {:?}",
                    self.side
                ),
            );
        }
        let Some(cid) = str_field("cid").filter(|c| !c.is_empty()) else {
            return violation(&self.log, format!("{t:?} message without a cid"));
        };
        match (t.as_str(), self.side) {
            ("OPEN", Side::Agent) => match str_field("connector") {
                Some(connector) => self.on_open(cid, connector),
                None => violation(&self.log, "OPEN without a connector".into()),
            },
            ("DATA", _) => {
                let seq = obj.get("seq").and_then(Value::as_u64);
                let bytes = str_field("b64").map(|b| STANDARD.decode(b.as_bytes()));
                match (seq, bytes) {
                    (Some(seq), Some(Ok(bytes))) => {
                        if bytes.len() > MAX_WS_PAYLOAD {
                            violation(
                                &self.log,
                                format!("DATA of {} bytes > max_ws_payload", bytes.len()),
                            );
                        }
                        note(&self.log, |o| o.data_frames += 1);
                        self.deliver(&cid, Some(seq), Inbound::Data(bytes));
                    }
                    (None, _) => violation(&self.log, "DATA without a numeric seq".into()),
                    (_, None) => violation(&self.log, "DATA without b64".into()),
                    (_, Some(Err(e))) => {
                        violation(&self.log, format!("DATA b64 is not padded base64: {e}"))
                    }
                }
            }
            ("FIN", _) => {
                let dir = str_field("dir").unwrap_or_default();
                if dir != self.side.down_dir() {
                    violation(
                        &self.log,
                        format!(
                            "FIN dir {dir:?} received by the {:?} (want {:?})",
                            self.side,
                            self.side.down_dir()
                        ),
                    );
                }
                self.deliver(&cid, None, Inbound::Fin);
            }
            ("RST", _) => {
                let err = str_field("err").unwrap_or_default();
                if err.is_empty() {
                    violation(&self.log, "RST without err".into());
                }
                if !self.cancel_stream(&cid) {
                    note(&self.log, |o| o.unknown_cid_frames += 1);
                }
                note(&self.log, |o| o.resets_received.push((cid, err)));
            }
            _ => {}
        }
    }
}
