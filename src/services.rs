//! The bindings in `env` that are not workflows, behind the one host the engine forwards them
//! to: queue producers go to `queues`, KV namespaces to `kv`, D1 databases to `d1`, R2 buckets
//! to `r2`, calls to Durable Objects to `durable`.

use crate::d1::D1;
use crate::durable::DurableObjects;
use crate::js::{BindingFuture, BindingHost, BindingRequest};
use crate::kv::Kv;
use crate::queues::Queues;
use crate::r2::R2;

pub struct Services {
    pub queues: Queues,
    pub kv: Kv,
    pub d1: D1,
    pub r2: R2,
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
            BindingRequest::DurableObjectCall { .. } => Box::pin(self.durable.answer(request)),
            other => self.queues.call(other),
        }
    }
}
