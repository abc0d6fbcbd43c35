//! The attribute type a field's Rust type stands for.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{GenericArgument, PathArguments, Type};

/// What a field's type says about its attribute.
pub struct Mapped {
    /// An `AttrType` expression; `None` for a type without an obvious
    /// attribute type.
    pub ty: Option<TokenStream>,
    /// Whether the field is an `Option`: the attribute is optional.
    pub optional: bool,
}

const INTEGERS: &[&str] = &["i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize"];
const MAPS: &[&str] = &["Map", "BTreeMap", "HashMap", "IndexMap"];
const LISTS: &[&str] = &["Vec", "VecDeque", "BTreeSet", "HashSet", "IndexSet"];

/// The attribute type of `ty` (through one `Option`).
pub fn map(ty: &Type) -> Mapped {
    let ty = peel(ty);
    match generic_of(ty, "Option") {
        Some(inner) => Mapped { ty: attr_type(peel(inner)), optional: true },
        None => Mapped { ty: attr_type(ty), optional: false },
    }
}

/// `ty` without references, `Box`, `Rc`, `Arc` and parentheses: what a
/// value of it is serialised as.
fn peel(mut ty: &Type) -> &Type {
    loop {
        ty = match ty {
            Type::Reference(r) => &r.elem,
            Type::Paren(p) => &p.elem,
            Type::Group(g) => &g.elem,
            _ => match ["Box", "Rc", "Arc"].iter().find_map(|name| generic_of(ty, name)) {
                Some(inner) => inner,
                None => return ty,
            },
        }
    }
}

/// The last segment's name of a path type.
fn last_ident(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

/// `T` of `Name<T>` (the first type argument), if `ty` is one.
fn generic_of<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    args.args.iter().find_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

fn attr_type(ty: &Type) -> Option<TokenStream> {
    let krate = quote!(::batou_sdk);
    if let Some(scalar) = scalar(ty) {
        return Some(match scalar {
            "String" => quote!(#krate::AttrType::String),
            "Integer" => quote!(#krate::AttrType::Integer),
            "Float" => quote!(#krate::AttrType::Float),
            _ => quote!(#krate::AttrType::Boolean),
        });
    }
    let element = match ty {
        Type::Slice(s) => Some(&*s.elem),
        Type::Array(a) => Some(&*a.elem),
        _ => LISTS.iter().find_map(|name| generic_of(ty, name)),
    };
    if let Some(element) = element {
        let element = peel(element);
        if last_ident(element).as_deref() == Some("Value") {
            return Some(quote!(#krate::AttrType::List));
        }
        let scalar = syn::Ident::new(scalar(element)?, proc_macro2::Span::call_site());
        return Some(quote!(#krate::AttrType::ListOf(#krate::Scalar::#scalar)));
    }
    match last_ident(ty)?.as_str() {
        name if MAPS.contains(&name) => Some(quote!(#krate::AttrType::Table)),
        "Value" => Some(quote!(#krate::AttrType::Any)),
        _ => None,
    }
}

/// The `Scalar` variant `ty` is, if it is one.
fn scalar(ty: &Type) -> Option<&'static str> {
    let name = last_ident(ty)?;
    if matches!(name.as_str(), "String" | "str" | "PathBuf" | "Path") || generic_of(ty, "Cow").is_some_and(is_str) {
        Some("String")
    } else if INTEGERS.contains(&name.as_str()) {
        Some("Integer")
    } else if matches!(name.as_str(), "f32" | "f64") {
        Some("Float")
    } else if name == "bool" {
        Some("Boolean")
    } else {
        None
    }
}

fn is_str(ty: &Type) -> bool {
    last_ident(ty).as_deref() == Some("str")
}
