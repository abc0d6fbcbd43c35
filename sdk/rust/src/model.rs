//! The deployment model as one component sees it: its host, its
//! environment, its sub-components, and the provide/require exchange with
//! other components.
//!
//! [`add`], [`add_kind`], [`provide`] and [`require`] are allowed only in
//! `configure`.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::__bindings::batou::deploy::model as wit;
use crate::{Error, KindSpec, Result};

/// The host a component is deployed to.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// The name as written in the environment.
    pub name: String,
    /// The fully qualified name (`host_domain` appended, if set).
    pub fqdn: String,
    /// The host's `data` table from the environment.
    pub data: serde_json::Value,
}

/// The host this component is deployed to.
pub fn host() -> Host {
    let data = wit::host_data();
    Host {
        name: wit::host_name(),
        fqdn: wit::host_fqdn(),
        // The runner sends a JSON object; be lenient rather than trap.
        data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
    }
}

/// The name of the environment being deployed, such as `dev`.
pub fn environment() -> String {
    wit::environment_name()
}

/// This component's path for messages, such as `hello > file('a.txt')`.
pub fn path() -> String {
    wit::component_path()
}

/// The absolute path of the root component's working directory on the
/// target. Relative paths given to [`files`](crate::files) and
/// [`process`](crate::process) resolve against it.
pub fn workdir() -> String {
    wit::workdir()
}

/// The content of the environment's secret file `name`
/// (`environments/<env>/secret-<name>.age`), in any lifecycle step. The
/// root's grants must name it (`secret_files = ["<name>"]` in
/// `[grants.<root>]`): else [`Error::AccessDenied`]; a granted name with
/// no such file is [`Error::NotFound`]. The runner masks the content in
/// everything it shows. Since contract 0.2.1.
pub fn secret_file(name: &str) -> Result<Vec<u8>> {
    Ok(wit::secret_file(name)?)
}

/// Adds a sub-component of `kind` named `name` (such as a path), with
/// `attributes` serialised to a JSON object, and configures it at once (as
/// batou does): what it returns is the child as the runner checked it,
/// with what its configure exposed. Sub-components are deployed before
/// their parent's `verify`, in the order they were added.
///
/// ```no_run
/// # fn f() -> batou_sdk::Result<()> {
/// batou_sdk::model::add("file", "app.conf", &serde_json::json!({
///     "path": "app.conf",
///     "source": "app.conf.j2",
/// }))?;
/// # Ok(()) }
/// ```
pub fn add(kind: &str, name: &str, attributes: &impl Serialize) -> Result<Child> {
    let attributes = serde_json::to_string(attributes)?;
    let child = wit::add(kind, name, &attributes)?;
    // The runner sends JSON objects; be lenient rather than trap.
    let object = |text: &str| serde_json::from_str(text).unwrap_or_default();
    Ok(Child {
        path: child.path,
        attributes: object(&child.attributes),
        exposed: object(&child.exposed),
    })
}

/// Adds a sub-component of the kind `K` declares, named `name`, with the
/// attributes `attributes`: [`add`] with the kind's name taken from the
/// type, so the attributes are checked by the compiler before the runner.
/// The standard kinds are in [`stdlib`](crate::stdlib); a struct of your
/// own with `#[derive(Serialize, Kind)]` works too.
///
/// ```no_run
/// use batou_sdk::{model, stdlib};
/// # fn f() -> batou_sdk::Result<()> {
/// let data = model::add_kind("data", &stdlib::Directory {
///     path: "data".into(),
///     mode: Some(0o750),
///     ..Default::default()
/// })?;
/// let path: String = data.attribute("path")?;
/// # Ok(()) }
/// ```
pub fn add_kind<K: KindSpec + Serialize>(name: &str, attributes: &K) -> Result<Child> {
    add(K::NAME, name, attributes)
}

/// A sub-component as its parent sees it after [`add`].
#[derive(Debug, Clone, PartialEq)]
pub struct Child {
    /// Its path, such as `hello > file('a.txt')`.
    pub path: String,
    /// Its attributes as the runner checked them, defaults filled in.
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// What its configure exposed with [`expose`], by name.
    pub exposed: serde_json::Map<String, serde_json::Value>,
}

impl Child {
    /// The value the child exposed under `name`, deserialised as `T`.
    pub fn exposed<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        let value = self.exposed.get(name).ok_or_else(|| {
            Error::NotFound(format!("{} exposes no `{name}`", self.path))
        })?;
        serde_json::from_value(value.clone()).map_err(|e| {
            Error::Invalid(format!("`{name}` exposed by {}: {e}", self.path))
        })
    }

    /// The child's checked attribute `name`, deserialised as `T`.
    pub fn attribute<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        let value = self.attributes.get(name).ok_or_else(|| {
            Error::NotFound(format!("{} has no attribute `{name}`", self.path))
        })?;
        serde_json::from_value(value.clone()).map_err(|e| {
            Error::Invalid(format!("attribute `{name}` of {}: {e}", self.path))
        })
    }
}

/// Makes `value` readable under `name` by the component that added this
/// one ([`Child::exposed`]), such as a path it computed. Only during
/// `configure`.
pub fn expose(name: &str, value: &impl Serialize) -> Result<()> {
    let value = serde_json::to_string(value)?;
    Ok(wit::expose(name, &value)?)
}

/// Offers `value` under `key` to components that require it.
pub fn provide(key: &str, value: &impl Serialize) -> Result<()> {
    let value = serde_json::to_string(value)?;
    Ok(wit::provide(key, &value)?)
}

/// Every value provided under `key`, from all hosts. Strict: when there is
/// none yet, the list is empty and the runner marks this configure as
/// unsatisfied — it configures the component again once a value exists (as
/// batou does, configure goes on, so values it provides afterwards count).
/// For other options, use [`Require`].
pub fn require<T: DeserializeOwned>(key: &str) -> Result<Vec<T>> {
    Require::new(key).values()
}

/// The one value provided under `key`; an error if there is none or more
/// than one.
pub fn require_one<T: DeserializeOwned>(key: &str) -> Result<T> {
    Require::new(key).one()
}

/// During `update`: whether any sub-component changed the target in this
/// deploy (to restart a service only when its configuration changed, say).
pub fn changed() -> bool {
    wit::changed()
}

/// A `require` with options.
///
/// ```no_run
/// use batou_sdk::model::Require;
/// # fn f() -> batou_sdk::Result<()> {
/// // Backends on this host, if any: no error when there are none.
/// let backends: Vec<String> = Require::new("backend").host_only(true).strict(false).values()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a Require does nothing until `values` or `one` is called"]
pub struct Require {
    key: String,
    host_only: bool,
    strict: bool,
    reverse: bool,
}

impl Require {
    /// Requires `key`: from all hosts, strict, not reversed.
    pub fn new(key: impl Into<String>) -> Self {
        Require {
            key: key.into(),
            host_only: false,
            strict: true,
            reverse: false,
        }
    }

    /// Whether only values provided on this component's host count.
    pub fn host_only(mut self, host_only: bool) -> Self {
        self.host_only = host_only;
        self
    }

    /// Whether no value at all makes this configure unsatisfied (the
    /// default: the runner configures the component again later) rather
    /// than an acceptable empty list.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Whether this component is deployed before the providers rather than
    /// after them.
    pub fn reverse(mut self, reverse: bool) -> Self {
        self.reverse = reverse;
        self
    }

    /// The values, each deserialised as `T` (`serde_json::Value` takes
    /// anything).
    pub fn values<T: DeserializeOwned>(&self) -> Result<Vec<T>> {
        let mut options = wit::RequireOptions::empty();
        options.set(wit::RequireOptions::HOST_ONLY, self.host_only);
        options.set(wit::RequireOptions::STRICT, self.strict);
        options.set(wit::RequireOptions::REVERSE, self.reverse);
        let json = wit::require(&self.key, options)?;
        serde_json::from_str(&json).map_err(|e| {
            let e = crate::error::json_message(&e);
            Error::Invalid(format!("the values provided under `{}`: {e}", self.key))
        })
    }

    /// The one value; an error if there is none or more than one.
    pub fn one<T: DeserializeOwned>(&self) -> Result<T> {
        let mut values = self.values::<T>()?;
        match values.len() {
            1 => Ok(values.remove(0)),
            0 => Err(Error::Failed(format!(
                "no value is provided under `{}`",
                self.key
            ))),
            n => Err(Error::Failed(format!(
                "{n} values are provided under `{}`, where exactly one is wanted",
                self.key
            ))),
        }
    }
}
