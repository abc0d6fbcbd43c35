//! The one place the WIT contract becomes Rust on the host side.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "deployment-component",
    // Every capability call may end the component (a trap) as well as
    // return an `error` to it: see `CapError`.
    imports: { default: trappable },
    trappable_error_type: {
        "batou:deploy/types.error" => crate::host::CapError,
    },
});

#[cfg(test)]
pub use batou::deploy::types::AttributeSpec;
pub use batou::deploy::types::{AttributeType, Error as WitError, FileKind, FileStat, KindSpec, VerifyResult};
