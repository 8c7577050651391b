//! The path parameters the routes share, validated the same way everywhere.

use serde::Deserialize;

use super::envelope::ApiError;
use crate::ids::{EventType, InstanceId};

/// `…/workflows/{workflow_name}`. Unknown names are answered by the engine (404, code 10200).
#[derive(Deserialize)]
pub struct WorkflowPath {
    pub workflow_name: String,
}

/// `…/workflows/{workflow_name}/instances/{instance_id}`.
#[derive(Deserialize)]
pub struct InstancePath {
    pub workflow_name: String,
    pub instance_id: String,
}

impl InstancePath {
    /// Any id an existing instance can have (cron ids included).
    pub fn id(&self) -> Result<InstanceId, ApiError> {
        InstanceId::parse_addressable(&self.instance_id).map_err(ApiError::from)
    }
}

/// `…/instances/{instance_id}/events/{event_type}`.
#[derive(Deserialize)]
pub struct EventPath {
    pub workflow_name: String,
    pub instance_id: String,
    pub event_type: String,
}

impl EventPath {
    pub fn id(&self) -> Result<InstanceId, ApiError> {
        InstanceId::parse_addressable(&self.instance_id).map_err(ApiError::from)
    }

    pub fn event_type(&self) -> Result<EventType, ApiError> {
        EventType::parse(&self.event_type).map_err(ApiError::from)
    }
}

/// `…/versions/{version_id}`.
#[derive(Deserialize)]
pub struct VersionPath {
    pub workflow_name: String,
    pub version_id: String,
}

/// The id a create request asks for, if any: the user-id rules (no cron ids).
pub fn requested_id(id: Option<&str>) -> Result<Option<InstanceId>, ApiError> {
    id.map(InstanceId::parse).transpose().map_err(ApiError::from)
}
