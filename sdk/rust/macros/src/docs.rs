//! Doc comments as the runner shows them.

use syn::{Attribute, Expr, ExprLit, Lit, Meta};

/// The first paragraph of the doc comment in `attrs`, its lines joined
/// with spaces; empty without one. Only the first paragraph: what follows
/// (examples, details for Rust readers) is for rustdoc, while the runner
/// shows a kind's and an attribute's doc in one line of help or an error.
pub fn first_paragraph(attrs: &[Attribute]) -> String {
    let mut words: Vec<String> = Vec::new();
    for attr in attrs {
        let Meta::NameValue(nv) = &attr.meta else { continue };
        if !nv.path.is_ident("doc") {
            continue;
        }
        // `#[doc = include_str!(..)]` and the like are not text we can
        // read here; they are left out.
        let Expr::Lit(ExprLit { lit: Lit::Str(text), .. }) = &nv.value else { continue };
        // `split`, not `lines`: a blank `///` line is `#[doc = ""]`.
        for line in text.value().split('\n') {
            let line = line.trim();
            if line.is_empty() {
                if !words.is_empty() {
                    return words.join(" ");
                }
            } else {
                words.push(line.to_owned());
            }
        }
    }
    words.join(" ")
}
