//! `model`: the host, the environment, and provide/require/add.

use std::time::Instant;

use serde_json::Value;

use crate::plan::grants::Grant;
use crate::plan::require::{Added, RequireRecord};
use crate::wasm::CapError;
use crate::wasm::bindings::batou::deploy::model;
use crate::wasm::error::describe_call;
use crate::wasm::state::{Child, Phase, StoreData};

/// How deep sub-components may nest below a root.
const MAX_DEPTH: usize = 64;

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

    fn secret_file(&mut self, name: String) -> Result<Vec<u8>, CapError> {
        let secrets = self.call.model.secrets.clone();
        if !secrets.grants.secret_files.contains(&name) {
            let advice = if secrets.grants.root.is_empty() {
                "only a root's tree may read secret files".to_string()
            } else {
                secrets.grants.advice("secret_files", &name)
            };
            let what = format!("secret file `{name}`");
            return Err(self.call.sandbox.refuse(&self.call.path, what, advice).into());
        }
        self.call.sandbox.note_use(&self.call.path, &Grant::SecretFile(name.clone()));
        let Some(bytes) = secrets.files.get(&name) else {
            return Err(CapError::not_found(format!(
                "environment `{}` has no secret file `{name}` (secret-{name}.age beside its secrets.toml.age)",
                self.call.host.environment
            )));
        };
        self.hold(bytes.len(), "the secret files it read")?;
        Ok(bytes.to_vec())
    }

    fn add(&mut self, kind: String, name: String, attributes: String) -> Result<model::Child, CapError> {
        self.call.allow("model.add", &[Phase::Configure])?;
        let result = self.check_added(&kind, &name, &attributes);
        if let Err(CapError::Guest(e)) = &result {
            self.call.model.record.errors.push(describe_call(e));
        }
        let added = Added { kind, name, attributes: result? };
        // Each level of nesting is a nested call on this thread's stack,
        // and each sub-component is held until its root is deployed.
        let depth = self.call.path.matches(" > ").count() + 1;
        if depth >= MAX_DEPTH {
            return Err(CapError::Trap(format!(
                "nested sub-components deeper than {MAX_DEPTH} levels (does a kind add itself?) and was stopped"
            )));
        }
        // As the component receives them (defaults filled in): made once.
        // Written straight into bytes: `to_string` goes through the
        // formatter, a call per piece, for every sub-component added.
        let text = serde_json::to_string(&added.attributes).map_err(CapError::bug)?;
        self.hold(text.len() + added.kind.len() + added.name.len() + 512, "its sub-components")?;
        let started = Instant::now();
        let outcome = self.configure_child(added, text);
        // The child's time is its own, not its parent's.
        self.call.clock.host_time += started.elapsed();
        outcome
    }

    fn expose(&mut self, name: String, value: String) -> Result<(), CapError> {
        self.call.allow("model.expose", &[Phase::Configure])?;
        self.hold(name.len() + value.len(), "the values it exposed")?;
        let value: Value = serde_json::from_str(&value)
            .map_err(|e| CapError::invalid(format!("expose `{name}`: the value is not JSON: {e}")))?;
        self.call.model.record.exposed.insert(name, value);
        Ok(())
    }

    fn provide(&mut self, key: String, value: String) -> Result<(), CapError> {
        self.call.allow("model.provide", &[Phase::Configure])?;
        // Held in the plan for the whole deploy, and sent to every agent.
        self.hold(key.len() + value.len(), "the values it provided")?;
        let value: Value = serde_json::from_str(&value)
            .map_err(|e| CapError::invalid(format!("provide `{key}`: the value is not JSON: {e}")))?;
        self.call.model.record.provided.push((key, value));
        Ok(())
    }

    fn require(&mut self, key: String, options: model::RequireOptions) -> Result<String, CapError> {
        self.call.allow("model.require", &[Phase::Configure])?;
        let host_only = options.contains(model::RequireOptions::HOST_ONLY);
        let strict = options.contains(model::RequireOptions::STRICT);
        let reverse = options.contains(model::RequireOptions::REVERSE);
        let Some(values) = self.call.model.answers.answer(&key, host_only) else {
            let msg = format!(
                "require `{key}` was not asked when the plan was made: configure must be deterministic (same attributes and required values, same calls)"
            );
            self.call.model.record.errors.push(msg.clone());
            return Err(CapError::invalid(msg));
        };
        let answer = serde_json::to_string(&values).map_err(CapError::bug)?;
        if strict && values.is_empty() && !self.call.model.record.unsatisfied.iter().any(|(k, _)| *k == key) {
            // As in batou, configure goes on with the empty list; the
            // resolver configures this component again when values change.
            self.call.model.record.unsatisfied.push((key.clone(), host_only));
        }
        self.call.model.record.required.push(RequireRecord { key, host_only, strict, reverse, values });
        Ok(answer)
    }

    fn changed(&mut self) -> wasmtime::Result<bool> {
        Ok(self.call.model.children_changed)
    }
}

impl StoreData {
    fn check_added(&self, kind: &str, name: &str, attributes: &str) -> Result<Value, CapError> {
        if name.is_empty() {
            return Err(CapError::invalid(format!("add `{kind}`: the sub-component needs a non-empty name")));
        }
        if self.call.model.record.children.iter().any(|c| c.added.kind == kind && c.added.name == name) {
            return Err(CapError::invalid(format!(
                "add `{kind}('{name}')`: a sub-component of that kind and name was already added; names must be unique below a component"
            )));
        }
        let attrs: Value = serde_json::from_str(attributes)
            .map_err(|e| CapError::invalid(format!("add `{kind}('{name}')`: attributes are not JSON: {e}")))?;
        let Value::Object(attrs) = attrs else {
            return Err(CapError::invalid(format!("add `{kind}('{name}')`: attributes must be a JSON object")));
        };
        self.kinds.check(kind, attrs).map_err(|errors| {
            let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            CapError::invalid(format!("add `{kind}('{name}')`: {}", text.join("; ")))
        })
    }

    /// Creates and configures the sub-component `added` in a free store of
    /// its module: configure runs now, so the parent reads the result.
    fn configure_child(&mut self, added: Added, attributes: String) -> Result<model::Child, CapError> {
        let pool = self.call.model.pool.clone().ok_or_else(|| CapError::bug("model.add outside configure"))?;
        let index = self.call.model.record.children.len();
        let setup = match self.call.model.lineage.child(&self.call, index, &added) {
            Ok(setup) => setup,
            Err(message) => {
                self.call.model.record.errors.push(message.clone());
                return Err(CapError::invalid(message));
            }
        };
        let ctx = self.call.for_child(&added.kind, &added.name, setup);
        let path = ctx.path.clone();
        let Some((module, _)) = pool.module_of(&added.kind) else {
            return Err(CapError::bug(format!("kind `{}` was checked but has no module", added.kind)));
        };
        let fail = |call: &mut crate::wasm::state::CallCtx, message: String| {
            if call.model.record.failed.is_none() {
                call.model.record.failed = Some((path.clone(), message));
            }
            CapError::child_failed(format!("{path} failed; see its error"))
        };
        let mut live = match pool.create(&module, ctx, &added.kind, &attributes) {
            Ok(live) => live,
            Err(e) => return Err(fail(&mut self.call, format!("create: {e}"))),
        };
        let result = pool.configure(&mut live);
        let record = &mut live.ctx().model.record;
        // What went wrong below the child is the root's failure too.
        let failed = record.failed.take();
        let mut errors = std::mem::take(&mut record.errors);
        let unsatisfied = record.unsatisfied.clone();
        let view = model::Child {
            path: path.clone(),
            attributes,
            exposed: serde_json::to_string(&record.exposed).map_err(CapError::bug)?,
        };
        // A child that lacks a required value is configured again with
        // its root; its unsatisfied keys are the root's.
        for key in unsatisfied {
            if !self.call.model.record.unsatisfied.contains(&key) {
                self.call.model.record.unsatisfied.push(key);
            }
        }
        let failure = match (failed, result) {
            (Some((p, m)), _) => Some((p, m)),
            (None, Err(e)) => {
                let mut message = format!("configure: {e}");
                errors.retain(|m| !message.contains(m.as_str()));
                for extra in errors.drain(..) {
                    message.push_str(&format!("\n  also: {extra}"));
                }
                Some((path.clone(), message))
            }
            (None, Ok(())) if !errors.is_empty() => Some((path.clone(), format!("configure: {}", errors.join("; ")))),
            (None, Ok(())) => None,
        };
        if let Some((p, m)) = failure {
            pool.discard(live);
            if self.call.model.record.failed.is_none() {
                self.call.model.record.failed = Some((p, m));
            }
            return Err(CapError::child_failed(format!("{path} failed; see its error")));
        }
        self.call.model.record.children.push(Child { added, live });
        Ok(view)
    }
}
