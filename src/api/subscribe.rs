//! `GET …/instances/{id}/subscribe`: an instance's events as `text/event-stream`, the REST side
//! of `instance.subscribe()`. Cloudflare names a REST subscribe API without publishing its path
//! or wire format, so this path and format are stepflare's: each event is one message with
//! `id:` its `eventId` and `data:` the event as JSON; the stream ends after the terminal event.
//! `?cursor=<eventId>` starts after that event (as does a reconnecting `EventSource`'s
//! `Last-Event-ID`), and `?filter=a,b` keeps only those event types.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::envelope::{ApiError, shown};
use super::extract::{ApiPath, ApiQuery};
use super::paths::InstancePath;
use crate::engine::subscribe::{EventFilter, NextEvent};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SubscribeQuery {
    cursor: Option<String>,
    filter: Option<String>,
}

pub async fn subscribe(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<InstancePath>,
    ApiQuery(query): ApiQuery<SubscribeQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = path.id()?;
    let resumed = headers.get("last-event-id").and_then(|value| value.to_str().ok());
    let cursor = match query.cursor.as_deref().or(resumed) {
        None => 0,
        Some(text) => text.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("cursor must be an event id (a whole number), not {}", shown(text)))
        })?,
    };
    let types = query.filter.as_deref().unwrap_or_default().split(',').filter(|name| !name.is_empty());
    let filter = EventFilter::new(types).map_err(|error| ApiError::bad_request(error.to_string()))?;
    // Refused before the stream starts: a missing instance is a 404 in the envelope.
    state.engine.instance(&path.workflow_name, &id).await?;

    let (engine, workflow) = (state.engine.clone(), path.workflow_name);
    let events = futures_util::stream::unfold(Some(cursor), move |cursor| {
        let (engine, workflow, id, filter) = (engine.clone(), workflow.clone(), id.clone(), filter.clone());
        async move {
            let message = match engine.next_event(&workflow, &id, cursor?, &filter).await {
                Ok(NextEvent::Event { event, event_id, last }) => {
                    let message = Event::default().id(event_id.to_string()).data(event.to_string());
                    (message, (!last).then_some(event_id))
                }
                Ok(NextEvent::Done) => return None,
                Err(error) => (Event::default().event("error").data(error.to_string()), None),
            };
            Some((Ok::<_, Infallible>(message.0), message.1))
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()).into_response())
}
