//! Kind and attribute specs: what [`Component::kind`](crate::Component::kind) returns.

use serde::Serialize;

use crate::__bindings::batou::deploy::types::{AttributeSpec, AttributeType, KindSpec, ScalarType};

/// A kind of component: its name, what it does, and the attributes it
/// accepts.
///
/// ```
/// use batou_sdk::{Attr, Kind};
///
/// let kind = Kind::new("hello", "Greets someone in a file")
///     .attr(Attr::string("greeting").default("Hello").doc("How to greet"))
///     .attr(Attr::string("name").doc("Whom to greet (required)"))
///     .attr(Attr::mode("mode").optional().doc("The file's mode"));
/// assert_eq!(kind.name(), "hello");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Kind {
    name: String,
    doc: String,
    attributes: Vec<Attr>,
}

impl Kind {
    /// A kind named `name` (as written in environments, such as `file`)
    /// with a one-line description.
    pub fn new(name: impl Into<String>, doc: impl Into<String>) -> Self {
        Kind {
            name: name.into(),
            doc: doc.into(),
            attributes: Vec::new(),
        }
    }

    /// Adds an attribute.
    pub fn attr(mut self, attr: Attr) -> Self {
        self.attributes.push(attr);
        self
    }

    /// The kind's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What a component of this kind does.
    pub fn doc(&self) -> &str {
        &self.doc
    }

    /// The attributes, in the order they were added.
    pub fn attributes(&self) -> &[Attr] {
        &self.attributes
    }

    pub(crate) fn into_wit(self) -> KindSpec {
        KindSpec {
            name: self.name,
            doc: self.doc,
            attributes: self.attributes.into_iter().map(Attr::into_wit).collect(),
        }
    }
}

/// The type an attribute's value must have; the runner checks it before
/// the component sees the value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttrType {
    /// A string.
    String,
    /// A whole number.
    Integer,
    /// A floating point number (integers are accepted).
    Float,
    /// `true` or `false`.
    Boolean,
    /// A list of any values.
    List,
    /// A list whose every element has this type (`Vec<String>`, say).
    ListOf(Scalar),
    /// One of these strings (the runner checks it and names the choices).
    Choice(Vec<String>),
    /// A table (JSON object) of any values.
    Table,
    /// File permission bits. Written as `0o640`, `"0640"` or `"rw-r-----"`;
    /// the component receives an integer (use `u32`, or `Option<u32>` when
    /// optional).
    Mode,
    /// Any value; the component checks it.
    Any,
}

/// The type of each element of [`AttrType::ListOf`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scalar {
    /// A string.
    String,
    /// A whole number.
    Integer,
    /// A floating point number.
    Float,
    /// `true` or `false`.
    Boolean,
    /// File permission bits (the component receives integers).
    Mode,
}

/// One attribute of a [`Kind`].
///
/// Without [`default`](Attr::default) or [`optional`](Attr::optional) the
/// attribute is required. The runner fills in defaults, so the component
/// always receives every attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct Attr {
    name: String,
    ty: AttrType,
    default: Option<String>,
    doc: String,
}

impl Attr {
    /// An attribute named `name` of type `ty`.
    pub fn new(name: impl Into<String>, ty: AttrType) -> Self {
        Attr {
            name: name.into(),
            ty,
            default: None,
            doc: String::new(),
        }
    }

    /// A string attribute.
    pub fn string(name: impl Into<String>) -> Self {
        Attr::new(name, AttrType::String)
    }

    /// A whole-number attribute.
    pub fn integer(name: impl Into<String>) -> Self {
        Attr::new(name, AttrType::Integer)
    }

    /// A floating-point attribute.
    pub fn float(name: impl Into<String>) -> Self {
        Attr::new(name, AttrType::Float)
    }

    /// A boolean attribute.
    pub fn boolean(name: impl Into<String>) -> Self {
        Attr::new(name, AttrType::Boolean)
    }

    /// A list attribute.
    pub fn list(name: impl Into<String>) -> Self {
        Attr::new(name, AttrType::List)
    }

    /// A list attribute whose elements are all of type `element`.
    pub fn list_of(name: impl Into<String>, element: Scalar) -> Self {
        Attr::new(name, AttrType::ListOf(element))
    }

    /// A string attribute that must be one of `choices`.
    pub fn choice(name: impl Into<String>, choices: &[&str]) -> Self {
        let choices = choices.iter().map(|c| (*c).to_owned()).collect();
        Attr::new(name, AttrType::Choice(choices))
    }

    /// A table (JSON object) attribute.
    pub fn table(name: impl Into<String>) -> Self {
        Attr::new(name, AttrType::Table)
    }

    /// A file-mode attribute (the component receives an integer).
    pub fn mode(name: impl Into<String>) -> Self {
        Attr::new(name, AttrType::Mode)
    }

    /// An attribute of any type.
    pub fn any(name: impl Into<String>) -> Self {
        Attr::new(name, AttrType::Any)
    }

    /// The value used when the environment does not set the attribute.
    ///
    /// # Panics
    ///
    /// If `value` cannot be serialised to JSON (a map with non-string
    /// keys, say): a bug in the component, found by its first `describe`.
    pub fn default(mut self, value: impl Serialize) -> Self {
        let json = serde_json::to_string(&value).unwrap_or_else(|e| {
            panic!(
                "attribute `{}`: the default cannot be written as JSON: {e}",
                self.name
            )
        });
        self.default = Some(json);
        self
    }

    /// Makes the attribute optional: its default is `null`, which the
    /// component receives as `None` in an `Option` field.
    pub fn optional(mut self) -> Self {
        self.default = Some("null".to_owned());
        self
    }

    /// What the attribute means, for `batou-run` help and errors.
    pub fn doc(mut self, doc: impl Into<String>) -> Self {
        self.doc = doc.into();
        self
    }

    /// The attribute's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The attribute's type.
    pub fn ty(&self) -> &AttrType {
        &self.ty
    }

    /// The default as JSON text; `None` if the attribute is required.
    pub fn default_json(&self) -> Option<&str> {
        self.default.as_deref()
    }

    /// Whether the environment must set the attribute.
    pub fn is_required(&self) -> bool {
        self.default.is_none()
    }

    /// The attribute's documentation.
    pub fn doc_text(&self) -> &str {
        &self.doc
    }

    fn into_wit(self) -> AttributeSpec {
        AttributeSpec {
            name: self.name,
            type_: match self.ty {
                AttrType::String => AttributeType::String,
                AttrType::Integer => AttributeType::Integer,
                AttrType::Float => AttributeType::Float,
                AttrType::Boolean => AttributeType::Boolean,
                AttrType::List => AttributeType::List,
                AttrType::ListOf(element) => AttributeType::ListOf(match element {
                    Scalar::String => ScalarType::String,
                    Scalar::Integer => ScalarType::Integer,
                    Scalar::Float => ScalarType::Float,
                    Scalar::Boolean => ScalarType::Boolean,
                    Scalar::Mode => ScalarType::Mode,
                }),
                AttrType::Choice(choices) => AttributeType::Choice(choices),
                AttrType::Table => AttributeType::Table,
                AttrType::Mode => AttributeType::Mode,
                AttrType::Any => AttributeType::Any,
            },
            default: self.default,
            doc: self.doc,
        }
    }
}
