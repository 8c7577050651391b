//! The `durable_objects` section (`bindings`: `[{name, class_name, script_name?}]`) and the
//! `migrations` list (`new_classes`, `new_sqlite_classes`, `renamed_classes`,
//! `deleted_classes`), folded into the classes that exist after the last migration and which of
//! them keep their storage in SQLite.

use super::location::SourceLocation;
use super::raw::{RawKind, RawValue};
use super::validate::Validator;
use super::{ConfigError, DurableObjectBinding, DurableObjectsConfig};

const BINDING_FIELDS: &[&str] = &["name", "class_name", "script_name", "environment"];
const MIGRATION_FIELDS: &[&str] =
    &["tag", "new_classes", "new_sqlite_classes", "renamed_classes", "deleted_classes", "transferred_classes"];

impl Validator {
    pub(super) fn durable_objects(&mut self, root: &RawValue) -> Result<DurableObjectsConfig, ConfigError> {
        let mut config = DurableObjectsConfig::default();
        self.migrations(root, &mut config)?;
        self.exported_classes(root, &mut config)?;
        let Some(entry) = root.entry("durable_objects") else {
            return Ok(config);
        };
        let section = &entry.value;
        let RawKind::Table(fields) = &section.kind else {
            return Err(self.wrong_type(section, "durable_objects", "an object"));
        };
        for field in fields.iter().filter(|f| f.key != "bindings") {
            self.warn(field.key_position, format!("unexpected field {:?} in durable_objects", field.key));
        }
        for (at, item) in self.items(section, "durable_objects.", "bindings")? {
            self.unexpected_fields(&at, item, BINDING_FIELDS);
            let (name, name_position) = self.identifier(item, &at, "name")?;
            if let Some(first) = config.bindings.iter().position(|b| b.name == name) {
                let message = format!("{at}.name {name:?} is already used by durable_objects.bindings[{first}]");
                return Err(self.error(name_position, message));
            }
            let (class_name, class_position) = self.identifier(item, &at, "class_name")?;
            let script_name =
                self.string(item, "script_name", &format!("{at}.script_name"))?.map(|(s, _)| s.to_owned());
            if script_name.is_none() && config.deleted_classes.iter().any(|c| c == class_name) {
                let message = format!("{at}.class_name {class_name:?} names a class that a migration deleted");
                return Err(self.error(class_position, message));
            }
            if script_name.is_none() && !config.classes.iter().any(|(c, _)| c == class_name) {
                let message = format!(
                    "{at}: no migration creates class {class_name:?}; production requires one (add it to new_sqlite_classes of a migration); it runs here with key-value storage"
                );
                self.warn(item.position, message);
            }
            config.bindings.push(DurableObjectBinding {
                name: name.to_owned(),
                class_name: class_name.to_owned(),
                script_name,
                location: SourceLocation::new(&self.path, item.position),
            });
        }
        Ok(config)
    }

    /// Applies `migrations` in order: each class is created once, renamed or deleted only
    /// while it exists, and a tag is used once.
    fn migrations(&mut self, root: &RawValue, config: &mut DurableObjectsConfig) -> Result<(), ConfigError> {
        let mut tags: Vec<String> = Vec::new();
        for (at, item) in self.items(root, "", "migrations")? {
            self.unexpected_fields(&at, item, MIGRATION_FIELDS);
            let (tag, tag_position) = self.required_string(item, &at, "tag")?;
            if tags.iter().any(|t| t == tag) {
                return Err(self.error(tag_position, format!("{at}.tag {tag:?} is used by an earlier migration")));
            }
            tags.push(tag.to_owned());
            for (key, sqlite) in [("new_classes", false), ("new_sqlite_classes", true)] {
                for (class, position) in self.class_names(item, &at, key)? {
                    if config.classes.iter().any(|(c, _)| *c == class) {
                        let message =
                            format!("{at}.{key}: class {class:?} already exists (an earlier migration created it)");
                        return Err(self.error(position, message));
                    }
                    config.deleted_classes.retain(|c| *c != class);
                    config.classes.push((class, sqlite));
                }
            }
            for (index, rename) in self.items(item, &format!("{at}."), "renamed_classes")? {
                let (from, from_position) = self.required_string(rename, &index, "from")?;
                let (to, to_position) = self.required_string(rename, &index, "to")?;
                let Some(found) = config.classes.iter().position(|(c, _)| c == from) else {
                    let message = format!("{index}.from: class {from:?} does not exist, so it cannot be renamed");
                    return Err(self.error(from_position, message));
                };
                if config.classes.iter().any(|(c, _)| c == to) {
                    return Err(self.error(to_position, format!("{index}.to: class {to:?} already exists")));
                }
                config.classes[found].0 = to.to_owned();
                config.renamed_classes.push((from.to_owned(), to.to_owned()));
            }
            for (class, position) in self.class_names(item, &at, "deleted_classes")? {
                let Some(found) = config.classes.iter().position(|(c, _)| *c == class) else {
                    let message =
                        format!("{at}.deleted_classes: class {class:?} does not exist, so it cannot be deleted");
                    return Err(self.error(position, message));
                };
                config.classes.remove(found);
                config.deleted_classes.push(class);
            }
        }
        Ok(())
    }

    /// The declarative form of migrations: `exports` entries of type `"durable-object"`, each a
    /// class that is live (`state` `"created"`, the default, with `storage` `"sqlite"`, the
    /// default, or `"kv"`), `"deleted"`, or `"renamed"` (`renamed_to` a live class, which keeps
    /// its objects). A Worker uses them or `migrations`, never both.
    fn exported_classes(&mut self, root: &RawValue, config: &mut DurableObjectsConfig) -> Result<(), ConfigError> {
        let Some(RawKind::Table(fields)) = root.entry("exports").map(|e| &e.value.kind) else {
            return Ok(());
        };
        let mut renames = Vec::new();
        for field in fields {
            let item = &field.value;
            if !matches!(item.entry("type").map(|e| &e.value.kind), Some(RawKind::String(kind)) if kind == "durable-object")
            {
                continue;
            }
            let at = format!("exports.{}", field.key);
            if let Some(migrations) = root.entry("migrations") {
                let message =
                    format!("{at}: a Worker declares its Durable Object classes in exports or in migrations, not both");
                return Err(self.error(migrations.key_position, message));
            }
            self.unexpected_fields(
                &at,
                item,
                &["type", "state", "storage", "renamed_to", "transferred_to", "transferred_from"],
            );
            let class = field.key.clone();
            match self.string(item, "state", &format!("{at}.state"))? {
                None | Some(("created", _)) => {
                    let sqlite = match self.string(item, "storage", &format!("{at}.storage"))? {
                        None | Some(("sqlite", _)) => true,
                        Some(("kv", _)) => false,
                        Some((other, position)) => {
                            let message = format!("{at}.storage must be \"sqlite\" or \"kv\" (got {other:?})");
                            return Err(self.error(position, message));
                        }
                    };
                    config.classes.push((class, sqlite));
                }
                Some(("deleted", _)) => config.deleted_classes.push(class),
                Some(("renamed", _)) => {
                    let (to, position) = self.required_string(item, &at, "renamed_to")?;
                    renames.push((class, to.to_owned(), position));
                }
                Some(("transferred", position)) => {
                    let message =
                        format!("{at}: a transfer to another Worker is not emulated; {} is left out", field.key);
                    self.warn(position, message);
                }
                Some((other, position)) => {
                    let message = format!(
                        "{at}.state must be \"created\", \"deleted\", \"renamed\" or \"transferred\" (got {other:?})"
                    );
                    return Err(self.error(position, message));
                }
            }
        }
        for (from, to, position) in renames {
            if !config.classes.iter().any(|(c, _)| *c == to) {
                let message = format!(
                    "exports.{from}.renamed_to names {to:?}, which exports declares as no live Durable Object class"
                );
                return Err(self.error(position, message));
            }
            config.renamed_classes.push((from, to));
        }
        Ok(())
    }

    fn class_names(
        &self,
        item: &RawValue,
        at: &str,
        key: &str,
    ) -> Result<Vec<(String, super::location::Position)>, ConfigError> {
        let Some(entry) = item.entry(key) else {
            return Ok(Vec::new());
        };
        let RawKind::Array(names) = &entry.value.kind else {
            return Err(self.wrong_type(&entry.value, &format!("{at}.{key}"), "an array of strings"));
        };
        names
            .iter()
            .enumerate()
            .map(|(index, name)| match &name.kind {
                RawKind::String(text) => Ok((text.clone(), name.position)),
                _ => Err(self.wrong_type(name, &format!("{at}.{key}[{index}]"), "a string")),
            })
            .collect()
    }
}
