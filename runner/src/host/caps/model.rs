//! `model`: the host, the environment, and provide/require/add.

use serde_json::Value;

use crate::host::CapError;
use crate::host::bindings::batou::deploy::model;
use crate::host::state::{Added, Phase, RequireRecord, StoreData};

impl model::Host for StoreData {
    fn host_name(&mut self) -> wasmtime::Result<String> {
        Ok(self.call.host.name.clone())
    }

    fn host_fqdn(&mut self) -> wasmtime::Result<String> {
        Ok(self.call.host.fqdn.clone())
    }

    fn host_data(&mut self) -> wasmtime::Result<String> {
        Ok(self.call.host.data.to_string())
    }

    fn environment_name(&mut self) -> wasmtime::Result<String> {
        Ok(self.call.host.environment.clone())
    }

    fn component_path(&mut self) -> wasmtime::Result<String> {
        Ok(self.call.path.clone())
    }

    fn workdir(&mut self) -> wasmtime::Result<String> {
        Ok(self.call.workdir.display().to_string())
    }

    fn add(&mut self, kind: String, name: String, attributes: String) -> Result<(), CapError> {
        self.call.allow("model.add", &[Phase::Configure])?;
        let result = self.check_added(&kind, &name, &attributes);
        if let Err(CapError::Guest(e)) = &result {
            self.call.record.errors.push(crate::host::error::describe(e));
        }
        let attributes = result?;
        self.call.record.added.push(Added { kind, name, attributes });
        Ok(())
    }

    fn provide(&mut self, key: String, value: String) -> Result<(), CapError> {
        self.call.allow("model.provide", &[Phase::Configure])?;
        // Held in the plan for the whole deploy, and sent to every agent.
        self.hold(key.len() + value.len(), "the values it provided")?;
        let value: Value = serde_json::from_str(&value)
            .map_err(|e| CapError::invalid(format!("provide `{key}`: the value is not JSON: {e}")))?;
        self.call.record.provided.push((key, value));
        Ok(())
    }

    fn require(&mut self, key: String, host_only: bool, strict: bool, reverse: bool) -> Result<String, CapError> {
        self.call.allow("model.require", &[Phase::Configure])?;
        let Some(values) = self.call.answers.answer(&key, host_only) else {
            let msg = format!(
                "require `{key}` was not asked when the plan was made: configure must be deterministic (same attributes and required values, same calls)"
            );
            self.call.record.errors.push(msg.clone());
            return Err(CapError::invalid(msg));
        };
        let answer = serde_json::to_string(&values).expect("JSON values serialize");
        if strict && values.is_empty() && !self.call.record.unsatisfied.iter().any(|(k, _)| *k == key) {
            // As in batou, configure goes on with the empty list; the
            // resolver configures this component again when values change.
            self.call.record.unsatisfied.push((key.clone(), host_only));
        }
        self.call.record.required.push(RequireRecord { key, host_only, strict, reverse, values });
        Ok(answer)
    }

    fn changed(&mut self) -> wasmtime::Result<bool> {
        Ok(self.call.children_changed)
    }
}

impl StoreData {
    fn check_added(&self, kind: &str, name: &str, attributes: &str) -> Result<Value, CapError> {
        if name.is_empty() {
            return Err(CapError::invalid(format!("add `{kind}`: the sub-component needs a non-empty name")));
        }
        if self.call.record.added.iter().any(|a| a.kind == kind && a.name == name) {
            return Err(CapError::invalid(format!(
                "add `{kind}('{name}')`: a sub-component of that kind and name was already added; names must be unique below a component"
            )));
        }
        let attrs: Value = serde_json::from_str(attributes)
            .map_err(|e| CapError::invalid(format!("add `{kind}('{name}')`: attributes are not JSON: {e}")))?;
        let Value::Object(attrs) = attrs else {
            return Err(CapError::invalid(format!("add `{kind}('{name}')`: attributes must be a JSON object")));
        };
        self.kinds.check(kind, &attrs).map_err(|errors| {
            let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            CapError::invalid(format!("add `{kind}('{name}')`: {}", text.join("; ")))
        })
    }
}
