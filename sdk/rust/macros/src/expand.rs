//! The `impl KindSpec` for one struct.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, LitStr};

use crate::docs::first_paragraph;
use crate::options::{FieldOptions, KindOptions, TypeOverride};
use crate::types;

pub fn kind_spec(input: &DeriveInput) -> syn::Result<TokenStream> {
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "derive(Kind) takes a struct with named fields, one per attribute",
        ));
    };
    let fields = match &data.fields {
        Fields::Named(named) => named.named.iter().collect::<Vec<_>>(),
        // `{}` deserialises a struct with braces only, so a kind without
        // attributes is `struct Name {}` (as `Component` says).
        _ => {
            return Err(syn::Error::new_spanned(
                &input.ident,
                "derive(Kind) takes a struct with named fields (a kind without attributes is `struct Name {}`)",
            ));
        }
    };
    let options = KindOptions::parse(&input.attrs)?;
    let Some(name) = options.name else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "derive(Kind) needs the kind's name: #[kind(name = \"...\")]",
        ));
    };
    let doc = options.doc.unwrap_or_else(|| LitStr::new(&first_paragraph(&input.attrs), input.ident.span()));

    let mut attrs = Vec::new();
    let mut errors: Option<syn::Error> = None;
    for field in fields {
        match attribute(field) {
            Ok(Some(tokens)) => attrs.push(tokens),
            Ok(None) => {}
            // Every field's mistake at once, as rustc reports them.
            Err(e) => match &mut errors {
                Some(all) => all.combine(e),
                None => errors = Some(e),
            },
        }
    }
    if let Some(errors) = errors {
        return Err(errors);
    }

    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics ::batou_sdk::KindSpec for #ident #ty_generics #where_clause {
            const NAME: &'static str = #name;

            fn spec() -> ::batou_sdk::Kind {
                ::batou_sdk::Kind::new(#name, #doc) #(#attrs)*
            }
        }
    })
}

/// `.attr(Attr::new(..)...)` for `field`; `None` if serde skips it.
fn attribute(field: &syn::Field) -> syn::Result<Option<TokenStream>> {
    let options = FieldOptions::parse(&field.attrs)?;
    if options.skip {
        return Ok(None);
    }
    let ident = field.ident.as_ref().expect("named fields");
    // A raw identifier (`r#type`) is the attribute `type`, as for serde.
    let name = options.name.unwrap_or_else(|| {
        let text = ident.to_string();
        LitStr::new(text.strip_prefix("r#").unwrap_or(&text), ident.span())
    });
    let doc = options.doc.unwrap_or_else(|| LitStr::new(&first_paragraph(&field.attrs), ident.span()));
    let mapped = types::map(&field.ty);
    let krate = quote!(::batou_sdk);
    let ty = match options.ty {
        Some(TypeOverride::Simple(variant)) => quote!(#krate::AttrType::#variant),
        Some(TypeOverride::ListOf(scalar)) => quote!(#krate::AttrType::ListOf(#krate::Scalar::#scalar)),
        Some(TypeOverride::Choice(choices)) => {
            quote!(#krate::AttrType::Choice(::std::vec![#(::std::string::String::from(#choices)),*]))
        }
        None => match mapped.ty {
            Some(ty) => ty,
            None => {
                return Err(syn::Error::new(
                    field.ty.span(),
                    format!(
                        "derive(Kind): attribute `{}` has a type without an obvious attribute type; \
                         name one, such as #[attr(any)], #[attr(string)], #[attr(table)] or \
                         #[attr(choice(\"a\", \"b\"))], or leave the field out with #[serde(skip)]",
                        name.value()
                    ),
                ));
            }
        },
    };
    let default = match (options.default, options.optional || (mapped.optional && !options.required)) {
        (Some(value), _) => {
            // Spanned, so a default that does not serialise is reported
            // at the attribute, not at the derive.
            let span = value.span();
            quote_spanned!(span=> .default(#value))
        }
        (None, true) => quote!(.optional()),
        (None, false) => quote!(),
    };
    Ok(Some(quote! {
        .attr(#krate::Attr::new(#name, #ty) #default .doc(#doc))
    }))
}
