//! A small, real AuthZEN 1.0 policy decision point over HTTP (axum on loopback port 0), for
//! tests of the hub's per-stream authorization. No PDP product can run here, so this one speaks
//! the protocol: `POST /access/v1/evaluation` with a JSON body, answered with JSON.
//!
//! The test programs what it answers ([`Reply`], an optional `ttl_sec`, a delay) and reads back
//! every request body it received, in order, so it can assert the AuthZEN shape and exactly how
//! often the hub asked.

use crate::lock;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// The evaluation endpoint's path (the AuthZEN 1.0 one).
pub const EVALUATION_PATH: &str = "/access/v1/evaluation";

/// What the PDP answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `{"decision": bool}` (AuthZEN 1.0).
    Decision(bool),
    /// `{"allow": bool}` (older servers).
    Allow(bool),
    /// This HTTP status with an AuthZEN-looking body that must not be trusted.
    Status(u16),
    /// 200 with a body that is not an answer.
    Garbage,
}

/// The programmed behaviour: the reply, an optional `ttl_sec`, and a delay before answering.
#[derive(Debug, Clone, PartialEq)]
pub struct Behaviour {
    pub reply: Reply,
    pub ttl_sec: Option<f64>,
    pub delay: Duration,
}

impl Behaviour {
    pub fn reply(reply: Reply) -> Behaviour {
        Behaviour {
            reply,
            ttl_sec: None,
            delay: Duration::ZERO,
        }
    }

    pub fn ttl(mut self, secs: f64) -> Behaviour {
        self.ttl_sec = Some(secs);
        self
    }

    pub fn delay(mut self, delay: Duration) -> Behaviour {
        self.delay = delay;
        self
    }
}

#[derive(Debug)]
struct Inner {
    behaviour: Mutex<Behaviour>,
    /// Request bodies, as JSON (`Value::String` with the raw text when not JSON).
    requests: Mutex<Vec<Value>>,
    /// Requests being answered now, and the most at once so far.
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// A running PDP; stops when dropped.
#[derive(Debug)]
pub struct PdpServer {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl PdpServer {
    pub async fn start(behaviour: Behaviour) -> PdpServer {
        let inner = Arc::new(Inner {
            behaviour: Mutex::new(behaviour),
            requests: Mutex::default(),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route(EVALUATION_PATH, post(evaluate))
            .with_state(inner.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind pdp");
        let addr = listener.local_addr().expect("pdp addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        PdpServer { addr, inner, task }
    }

    /// The URL to configure as `pdp.url`.
    pub fn url(&self) -> String {
        format!("http://{}{EVALUATION_PATH}", self.addr)
    }

    /// Changes what later requests get.
    pub fn set(&self, behaviour: Behaviour) {
        *lock(&self.inner.behaviour) = behaviour;
    }

    /// Every request body received so far, in order.
    pub fn requests(&self) -> Vec<Value> {
        lock(&self.inner.requests).clone()
    }

    /// How many evaluations were asked for.
    pub fn calls(&self) -> usize {
        lock(&self.inner.requests).len()
    }

    /// The most requests that were being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for PdpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn evaluate(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let request = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    lock(&inner.requests).push(request);
    let behaviour = lock(&inner.behaviour).clone();
    let now = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    inner.max_in_flight.fetch_max(now, Ordering::SeqCst);
    // Also when the hub gives up and axum drops this handler mid-sleep.
    let _flight = InFlight(&inner.in_flight);
    tokio::time::sleep(behaviour.delay).await;
    let with_ttl = |mut answer: Value| {
        if let Some(ttl) = behaviour.ttl_sec {
            answer["ttl_sec"] = json!(ttl);
        }
        axum::Json(answer).into_response()
    };
    match behaviour.reply {
        Reply::Decision(d) => with_ttl(json!({"decision": d})),
        Reply::Allow(a) => with_ttl(json!({"allow": a})),
        Reply::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, axum::Json(json!({"decision": true}))).into_response()
        }
        Reply::Garbage => (
            [("content-type", "application/json")],
            "<html>definitely not a decision</html>",
        )
            .into_response(),
    }
}
