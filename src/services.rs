//! The bindings in `env` that are not workflows, behind the one host the engine forwards them
//! to: queue producers go to `queues`, KV namespaces to `kv`, D1 databases to `d1`, R2 buckets
//! to `r2`, calls to Durable Objects to `durable`, and service bindings to the Worker they
//! name, among the loaded ones.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use crate::d1::D1;
use crate::durable::DurableObjects;
use crate::js::{self, BindingError, BindingFuture, BindingHost, BindingRequest, HttpRequest, ResponseBody};
use crate::kv::Kv;
use crate::model::ErrorInfo;
use crate::queues::Queues;
use crate::r2::R2;
use crate::workers::Workers;

pub struct Services {
    pub queues: Queues,
    pub kv: Kv,
    pub d1: D1,
    pub r2: R2,
    /// The loaded Workers, which service bindings reach.
    pub workers: Workers,
    /// What the `env` of a Worker reached through a service binding answers to.
    pub bindings: Arc<dyn BindingHost>,
    /// Durable Object namespaces, their objects and alarms.
    pub durable: DurableObjects,
}

impl BindingHost for Services {
    fn call(&self, request: BindingRequest) -> BindingFuture<'_> {
        match request {
            BindingRequest::KvGet { .. }
            | BindingRequest::KvPut { .. }
            | BindingRequest::KvDelete { .. }
            | BindingRequest::KvList { .. } => Box::pin(self.kv.answer(request)),
            BindingRequest::D1Query { .. } | BindingRequest::D1Exec { .. } => Box::pin(self.d1.answer(request)),
            BindingRequest::R2Head { .. }
            | BindingRequest::R2Get { .. }
            | BindingRequest::R2Put { .. }
            | BindingRequest::R2Delete { .. }
            | BindingRequest::R2List { .. } => Box::pin(self.r2.answer(request)),
            BindingRequest::ServiceCall { service, entrypoint, call } => {
                Box::pin(self.service_call(service, entrypoint, call))
            }
            BindingRequest::DurableObjectCall { .. } => Box::pin(self.durable.answer(request)),
            other => self.queues.call(other),
        }
    }
}

impl Services {
    /// The loaded Worker a service binding names, or why it cannot be reached.
    fn service(&self, service: &str) -> Result<Arc<js::WorkerCode>, BindingError> {
        self.workers.named(service).ok_or_else(|| {
            BindingError(format!(
                "Service {service:?} is not running: no loaded Worker is named {service:?} (start it with another -c <its config>)"
            ))
        })
    }

    /// A call on a service binding (see [`BindingRequest::ServiceCall`]), answered as
    /// `stepflare:rpc` reads answers: `{ok}`, `{threw}` or `{error}`.
    async fn service_call(
        &self,
        service: String,
        entrypoint: Option<String>,
        call: Value,
    ) -> Result<Value, BindingError> {
        let worker = self.service(&service)?;
        if call["kind"] != "fetch" {
            let call = call.to_string();
            return Ok(match js::handle_rpc(worker, entrypoint, call, self.bindings.clone()).await {
                Ok(answer) => answer,
                Err(error) => thrown(&error),
            });
        }
        let text = |field: &str| call[field].as_str().unwrap_or_default().to_owned();
        let headers = serde_json::from_value(call["headers"].clone())
            .map_err(|e| BindingError(format!("invalid request headers: {e}")))?;
        let body = match call["body"].as_str() {
            Some(text) => BASE64.decode(text).map_err(|e| BindingError(format!("invalid request body: {e}")))?,
            None => Vec::new(),
        };
        let request = HttpRequest { method: text("method"), url: text("url"), headers, body: body.into() };
        let response = match js::handle_fetch_at(worker, entrypoint, request, self.bindings.clone()).await {
            Ok(response) => response,
            Err(js::FetchError::Threw(error)) => return Ok(thrown(&error)),
            Err(error @ js::FetchError::ExceededCpu) => return Ok(thrown(&ErrorInfo::new("Error", error.to_string()))),
        };
        let bytes = match response.body {
            ResponseBody::Full(bytes) => bytes.to_vec(),
            ResponseBody::Stream(mut chunks) => {
                let mut bytes = Vec::new();
                while let Some(chunk) = chunks.recv().await {
                    match chunk {
                        Ok(chunk) => bytes.extend_from_slice(&chunk),
                        Err(error) => return Ok(thrown(&ErrorInfo::new("Error", error.to_string()))),
                    }
                }
                bytes
            }
        };
        let body = (!bytes.is_empty()).then(|| BASE64.encode(&bytes));
        Ok(json!({ "ok": { "status": response.status, "headers": response.headers, "body": body } }))
    }
}

/// What the callee threw, for the caller to throw again.
fn thrown(error: &ErrorInfo) -> Value {
    json!({ "error": { "name": error.name, "message": error.message } })
}
