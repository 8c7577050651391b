//! The `queues` section: producer bindings (`queues.producers`) and the queues this Worker
//! consumes (`queues.consumers`), with the defaults and bounds of Cloudflare Queues.

use super::location::SourceLocation;
use super::raw::{RawKind, RawValue};
use super::validate::{Validator, whole_number};
use super::{ConfigError, QueueConsumerConfig, QueueProducerConfig, QueuesConfig};

const PRODUCER_FIELDS: &[&str] = &["binding", "queue", "delivery_delay"];
const CONSUMER_FIELDS: &[&str] = &[
    "queue",
    "type",
    "max_batch_size",
    "max_batch_timeout",
    "max_retries",
    "dead_letter_queue",
    "max_concurrency",
    "retry_delay",
    "visibility_timeout_ms",
];
/// Cloudflare's longest delivery or retry delay: 12 hours.
const MAX_DELAY_SECONDS: u64 = 43_200;

impl Validator {
    pub(super) fn queues(&mut self, root: &RawValue) -> Result<QueuesConfig, ConfigError> {
        let Some(entry) = root.entry("queues") else {
            return Ok(QueuesConfig::default());
        };
        let section = &entry.value;
        let RawKind::Table(fields) = &section.kind else {
            return Err(self.wrong_type(section, "queues", "an object"));
        };
        for field in fields.iter().filter(|f| !["producers", "consumers"].contains(&f.key.as_str())) {
            self.warn(field.key_position, format!("unexpected field {:?} in queues", field.key));
        }
        let mut queues = QueuesConfig::default();
        for (at, item) in self.items(section, "queues.", "producers")? {
            let producer = self.producer(&at, item)?;
            if let Some(first) = queues.producers.iter().position(|p| p.binding == producer.binding) {
                let message =
                    format!("{at}.binding {:?} is already used by queues.producers[{first}]", producer.binding);
                return Err(self.error(item.position, message));
            }
            queues.producers.push(producer);
        }
        for (at, item) in self.items(section, "queues.", "consumers")? {
            let consumer = self.consumer(&at, item)?;
            if let Some(first) = queues.consumers.iter().position(|c| c.queue == consumer.queue) {
                let message =
                    format!("{at}: queue {:?} already has a consumer, queues.consumers[{first}]", consumer.queue);
                return Err(self.error(item.position, message));
            }
            queues.consumers.push(consumer);
        }
        Ok(queues)
    }

    fn producer(&mut self, at: &str, item: &RawValue) -> Result<QueueProducerConfig, ConfigError> {
        self.unexpected_fields(at, item, PRODUCER_FIELDS);
        let (binding, _) = self.identifier(item, at, "binding")?;
        let queue = self.queue_name(item, at, "queue")?;
        let delivery_delay = self.integer(item, at, "delivery_delay", 0, MAX_DELAY_SECONDS)?.unwrap_or(0);
        Ok(QueueProducerConfig {
            binding: binding.to_owned(),
            queue,
            delivery_delay_seconds: delivery_delay as u32,
            location: SourceLocation::new(&self.path, item.position),
        })
    }

    fn consumer(&mut self, at: &str, item: &RawValue) -> Result<QueueConsumerConfig, ConfigError> {
        self.unexpected_fields(at, item, CONSUMER_FIELDS);
        let queue = self.queue_name(item, at, "queue")?;
        let pull = match self.string(item, "type", &format!("{at}.type"))? {
            None | Some(("worker", _)) => false,
            Some(("http_pull", _)) => true,
            Some((other, position)) => {
                let message = format!("{at}.type must be \"worker\" or \"http_pull\" (got {other:?})");
                return Err(self.error(position, message));
            }
        };
        let dead_letter_queue = match item.entry("dead_letter_queue") {
            None => None,
            Some(_) => Some(self.queue_name(item, at, "dead_letter_queue")?),
        };
        if dead_letter_queue.as_deref() == Some(queue.as_str()) {
            let message = format!("{at}.dead_letter_queue cannot be the queue itself ({queue:?})");
            return Err(self.error(item.position, message));
        }
        Ok(QueueConsumerConfig {
            max_batch_size: self.integer(item, at, "max_batch_size", 1, 100)?.unwrap_or(10) as u32,
            max_batch_timeout_seconds: self.integer(item, at, "max_batch_timeout", 0, 60)?.unwrap_or(5) as u32,
            max_retries: self.integer(item, at, "max_retries", 0, 100)?.unwrap_or(3) as u32,
            retry_delay_seconds: self.integer(item, at, "retry_delay", 0, MAX_DELAY_SECONDS)?.unwrap_or(0) as u32,
            max_concurrency: self.integer(item, at, "max_concurrency", 1, 250)?.map(|n| n as u32),
            dead_letter_queue,
            pull,
            queue,
            location: SourceLocation::new(&self.path, item.position),
        })
    }

    /// Queue names follow Cloudflare's rule: 1 to 63 lowercase letters, digits and dashes.
    fn queue_name(&self, item: &RawValue, at: &str, key: &str) -> Result<String, ConfigError> {
        let (name, position) = self.required_string(item, at, key)?;
        let valid = (1..=63).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !name.starts_with('-');
        if !valid {
            let message = format!(
                "{at}.{key} must be 1 to 63 letters, digits, dashes or underscores, not starting with a dash (got {name:?})"
            );
            return Err(self.error(position, message));
        }
        Ok(name.to_owned())
    }

    /// An optional whole number in `min..=max`.
    pub(super) fn integer(
        &self,
        item: &RawValue,
        at: &str,
        key: &str,
        min: u64,
        max: u64,
    ) -> Result<Option<u64>, ConfigError> {
        let Some(value) = item.entry(key).map(|e| &e.value) else {
            return Ok(None);
        };
        match whole_number(value).filter(|n| (min..=max).contains(n)) {
            Some(n) => Ok(Some(n)),
            None => {
                let got = match &value.kind {
                    RawKind::Number(n) => n.to_string(),
                    _ => value.type_name().to_owned(),
                };
                Err(self.error(
                    value.position,
                    format!("{at}.{key} must be a whole number from {min} to {max} (got {got})"),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{ConfigError, ProjectConfig, parse};

    fn jsonc(queues: &str) -> Result<ProjectConfig, ConfigError> {
        parse(Path::new("/x/wrangler.jsonc"), &format!("{{\n  \"main\": \"index.js\",\n  \"queues\": {queues}\n}}"))
    }

    #[track_caller]
    fn assert_error(queues: &str, expected: &str) {
        let error = jsonc(queues).expect_err("expected an error");
        assert_eq!(error.to_string(), format!("/x/wrangler.jsonc:{expected}"));
    }

    #[test]
    fn producers_and_consumers_with_cloudflares_defaults() {
        let config = parse(
            Path::new("/x/wrangler.toml"),
            r#"main = "index.js"
[[queues.producers]]
binding = "JOBS"
queue = "jobs"
delivery_delay = 30

[[queues.consumers]]
queue = "jobs"
dead_letter_queue = "jobs-dlq"

[[queues.consumers]]
queue = "pulled"
type = "http_pull"
"#,
        )
        .unwrap();
        let producer = &config.queues.producers[0];
        assert_eq!(
            (producer.binding.as_str(), producer.queue.as_str(), producer.delivery_delay_seconds),
            ("JOBS", "jobs", 30)
        );
        let consumer = &config.queues.consumers[0];
        assert_eq!(
            (
                consumer.max_batch_size,
                consumer.max_batch_timeout_seconds,
                consumer.max_retries,
                consumer.retry_delay_seconds
            ),
            (10, 5, 3, 0)
        );
        assert_eq!(consumer.dead_letter_queue.as_deref(), Some("jobs-dlq"));
        assert!(!consumer.pull && config.queues.consumers[1].pull);
        assert_eq!(consumer.location.line, 7);
    }

    #[test]
    fn every_rule_names_the_value_it_is_about() {
        assert_error("[]", "3:13: queues must be an object (got an empty array)");
        assert_error(r#"{ "producers": {} }"#, "3:28: queues.producers must be an array (got an object)");
        assert_error(
            r#"{ "producers": [{ "queue": "q" }] }"#,
            "3:29: queues.producers[0] is missing required field \"binding\"",
        );
        assert_error(
            r#"{ "producers": [{ "binding": "my-queue", "queue": "q" }] }"#,
            "3:42: queues.producers[0].binding must be a valid JavaScript identifier matching ^[A-Za-z_$][A-Za-z0-9_$]*$ (got \"my-queue\")",
        );
        assert_error(
            r#"{ "producers": [{ "binding": "Q", "queue": "q" }, { "binding": "Q", "queue": "r" }] }"#,
            "3:63: queues.producers[1].binding \"Q\" is already used by queues.producers[0]",
        );
        assert_error(
            r#"{ "consumers": [{ "queue": "q", "max_batch_size": 101 }] }"#,
            "3:63: queues.consumers[0].max_batch_size must be a whole number from 1 to 100 (got 101)",
        );
        assert_error(
            r#"{ "consumers": [{ "queue": "q", "max_batch_timeout": 1.5 }] }"#,
            "3:66: queues.consumers[0].max_batch_timeout must be a whole number from 0 to 60 (got 1.5)",
        );
        assert_error(
            r#"{ "consumers": [{ "queue": "q" }, { "queue": "q" }] }"#,
            "3:47: queues.consumers[1]: queue \"q\" already has a consumer, queues.consumers[0]",
        );
        assert_error(
            r#"{ "consumers": [{ "queue": "q", "dead_letter_queue": "q" }] }"#,
            "3:29: queues.consumers[0].dead_letter_queue cannot be the queue itself (\"q\")",
        );
        assert_error(
            r#"{ "consumers": [{ "queue": "has space" }] }"#,
            "3:40: queues.consumers[0].queue must be 1 to 63 letters, digits, dashes or underscores, not starting with a dash (got \"has space\")",
        );
        assert_error(
            r#"{ "consumers": [{ "queue": "q", "type": "push" }] }"#,
            "3:53: queues.consumers[0].type must be \"worker\" or \"http_pull\" (got \"push\")",
        );
    }

    #[test]
    fn unknown_fields_are_warnings() {
        let config = jsonc(r#"{ "producers": [{ "binding": "Q", "queue": "q", "retries": 1 }], "extra": 1 }"#).unwrap();
        let warnings: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            warnings,
            [
                "/x/wrangler.jsonc:3:78: warning: unexpected field \"extra\" in queues",
                "/x/wrangler.jsonc:3:61: warning: unexpected field \"retries\" in queues.producers[0]",
            ]
        );
    }
}
