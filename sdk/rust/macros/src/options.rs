//! What `#[kind(...)]`, `#[attr(...)]` and `#[serde(...)]` say.

use proc_macro2::{TokenStream, TokenTree};
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::{Attribute, Ident, LitStr, Token};

/// `#[kind(name = "...", doc = "...")]` on the struct.
#[derive(Default)]
pub struct KindOptions {
    pub name: Option<LitStr>,
    pub doc: Option<LitStr>,
}

impl KindOptions {
    pub fn parse(attrs: &[Attribute]) -> syn::Result<Self> {
        let mut options = KindOptions::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("kind")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("name") {
                    options.name = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident("doc") {
                    options.doc = Some(meta.value()?.parse()?);
                } else {
                    return Err(meta.error("unknown option of #[kind(...)]: expected `name` or `doc`"));
                }
                Ok(())
            })?;
        }
        for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
            attr.parse_nested_meta(|meta| {
                // The attribute names would differ from the field names;
                // following every case conversion of serde here is not
                // worth it while `rename` on a field says the same.
                if meta.path.is_ident("rename_all") || meta.path.is_ident("rename_all_fields") {
                    return Err(meta.error(
                        "derive(Kind) does not follow serde's rename_all: rename the fields one by one \
                         (#[serde(rename = \"...\")])",
                    ));
                }
                skip_value(&meta)
            })?;
        }
        Ok(options)
    }
}

/// The attribute type an `#[attr(...)]` names instead of the field's.
#[derive(Clone)]
pub enum TypeOverride {
    /// `string`, `integer`, `float`, `boolean`, `list`, `table`, `mode`,
    /// `any`: an `AttrType` variant.
    Simple(Ident),
    /// `list_of(string)`: a `Scalar` variant.
    ListOf(Ident),
    /// `choice("a", "b")`.
    Choice(Vec<LitStr>),
}

/// `#[attr(...)]` and the relevant `#[serde(...)]` of one field.
#[derive(Default)]
pub struct FieldOptions {
    pub name: Option<LitStr>,
    pub doc: Option<LitStr>,
    pub ty: Option<TypeOverride>,
    /// The tokens of an expression serialised as the default.
    pub default: Option<TokenStream>,
    pub optional: bool,
    pub required: bool,
    /// Not an attribute: `#[attr(skip)]`, `#[serde(skip)]` or
    /// `#[serde(skip_deserializing)]`.
    pub skip: bool,
}

const SIMPLE: &[(&str, &str)] = &[
    ("string", "String"),
    ("integer", "Integer"),
    ("float", "Float"),
    ("boolean", "Boolean"),
    ("list", "List"),
    ("table", "Table"),
    ("mode", "Mode"),
    ("any", "Any"),
];

const SCALARS: &[(&str, &str)] =
    &[("string", "String"), ("integer", "Integer"), ("float", "Float"), ("boolean", "Boolean"), ("mode", "Mode")];

impl FieldOptions {
    pub fn parse(attrs: &[Attribute]) -> syn::Result<Self> {
        let mut options = FieldOptions::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("attr")) {
            attr.parse_nested_meta(|meta| options.attr_option(&meta))?;
        }
        for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
            attr.parse_nested_meta(|meta| options.serde_option(&meta))?;
        }
        if let Some(default) = options.default.as_ref().filter(|_| options.optional) {
            return Err(syn::Error::new_spanned(
                default,
                "`optional` is the default `null`: give either `optional` or `default`",
            ));
        }
        Ok(options)
    }

    fn attr_option(&mut self, meta: &ParseNestedMeta) -> syn::Result<()> {
        let path = &meta.path;
        if path.is_ident("name") {
            self.name = Some(meta.value()?.parse()?);
        } else if path.is_ident("doc") {
            self.doc = Some(meta.value()?.parse()?);
        } else if path.is_ident("default") {
            let tokens = expression(meta.value()?)?;
            if tokens.is_empty() {
                return Err(meta.error("`default =` needs a value"));
            }
            self.default = Some(tokens);
        } else if path.is_ident("optional") {
            self.optional = true;
        } else if path.is_ident("required") {
            self.required = true;
        } else if path.is_ident("skip") {
            self.skip = true;
        } else if path.is_ident("choice") {
            let content;
            syn::parenthesized!(content in meta.input);
            let choices = content.parse_terminated(<LitStr as syn::parse::Parse>::parse, Token![,])?;
            if choices.is_empty() {
                return Err(meta.error("`choice(...)` needs at least one string"));
            }
            self.set_type(meta, TypeOverride::Choice(choices.into_iter().collect()))?;
        } else if path.is_ident("list_of") {
            let content;
            syn::parenthesized!(content in meta.input);
            let element: Ident = content.parse()?;
            let Some((_, variant)) = SCALARS.iter().find(|(word, _)| element == word) else {
                return Err(syn::Error::new_spanned(
                    element,
                    "list_of(...) takes string, integer, float, boolean or mode",
                ));
            };
            self.set_type(meta, TypeOverride::ListOf(Ident::new(variant, element.span())))?;
        } else if let Some((_, variant)) = SIMPLE.iter().find(|(word, _)| path.is_ident(word)) {
            let span = path.get_ident().expect("an ident").span();
            self.set_type(meta, TypeOverride::Simple(Ident::new(variant, span)))?;
        } else {
            return Err(meta.error(
                "unknown option of #[attr(...)]: expected name, doc, default, optional, required, skip, \
                 or a type: string, integer, float, boolean, list, list_of(..), choice(..), table, mode, any",
            ));
        }
        Ok(())
    }

    fn set_type(&mut self, meta: &ParseNestedMeta, ty: TypeOverride) -> syn::Result<()> {
        if self.ty.is_some() {
            return Err(meta.error("the attribute's type is given twice"));
        }
        self.ty = Some(ty);
        Ok(())
    }

    /// serde decides what the component receives, so its renames and
    /// skips count; every other serde option is passed over.
    fn serde_option(&mut self, meta: &ParseNestedMeta) -> syn::Result<()> {
        let path = &meta.path;
        if path.is_ident("skip") || path.is_ident("skip_deserializing") {
            self.skip = true;
            Ok(())
        } else if path.is_ident("flatten") {
            Err(meta.error("derive(Kind) cannot declare the attributes of a flattened field; list them here"))
        } else if path.is_ident("rename") {
            if meta.input.peek(Token![=]) {
                let name: LitStr = meta.value()?.parse()?;
                self.name.get_or_insert(name);
                Ok(())
            } else {
                // rename(serialize = "..", deserialize = ".."): what is
                // read from the attributes counts.
                meta.parse_nested_meta(|inner| {
                    if inner.path.is_ident("deserialize") {
                        let name: LitStr = inner.value()?.parse()?;
                        self.name.get_or_insert(name);
                        Ok(())
                    } else {
                        skip_value(&inner)
                    }
                })
            }
        } else {
            skip_value(meta)
        }
    }
}

/// Consumes the value of an option this derive does not read: `= value`
/// or `(...)`, if any.
fn skip_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        expression(meta.value()?).map(drop)
    } else if meta.input.peek(syn::token::Paren) {
        let _content;
        syn::parenthesized!(_content in meta.input);
        Ok(())
    } else {
        Ok(())
    }
}

/// The tokens up to the next top-level comma: an expression, kept as
/// tokens (so syn needs no "full" feature). A comma inside `(..)`, `[..]`
/// or `{..}` is part of it; one between `<..>` is not, so write
/// `(HashMap::<K, V>::new())` in parentheses.
fn expression(input: ParseStream) -> syn::Result<TokenStream> {
    input.step(|cursor| {
        let mut rest = *cursor;
        let mut tokens = TokenStream::new();
        while let Some((tree, next)) = rest.token_tree() {
            if matches!(&tree, TokenTree::Punct(p) if p.as_char() == ',') {
                break;
            }
            tokens.extend([tree]);
            rest = next;
        }
        Ok((tokens, rest))
    })
}
