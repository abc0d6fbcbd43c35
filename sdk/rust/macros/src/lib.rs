//! The derive behind `batou_sdk::Kind`: one struct declares a kind's
//! name, documentation and attributes. The SDK's crate documentation
//! describes what it reads; this crate is not used on its own.
//!
//! It generates an `impl batou_sdk::KindSpec` whose `spec()` builds the
//! same `batou_sdk::Kind` a component would write by hand with
//! `Kind::new(..).attr(Attr::..)`, so the two ways never differ in what
//! the runner sees.

use proc_macro::TokenStream;

mod docs;
mod expand;
mod options;
mod types;

/// Derives `batou_sdk::KindSpec` for a struct with named fields: the
/// kind's name from `#[kind(name = "...")]`, its doc from the struct's doc
/// comment, one attribute per field that serde deserialises. See the
/// `batou_sdk` crate documentation for the `#[attr(...)]` options.
#[proc_macro_derive(Kind, attributes(kind, attr))]
pub fn derive_kind(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::kind_spec(&input).unwrap_or_else(syn::Error::into_compile_error).into()
}
