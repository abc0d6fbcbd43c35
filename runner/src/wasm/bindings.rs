//! The one place the WIT contract becomes Rust on the host side.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "deployment-component",
    // Every capability call may end the component (a trap) as well as
    // return a `call-error` to it: see `CapError`.
    imports: { default: trappable },
    trappable_error_type: {
        "batou:deploy/types.call-error" => crate::wasm::CapError,
    },
    with: {
        "batou:deploy/files.writer": crate::wasm::caps::Writer,
    },
});

pub use batou::deploy::types::{
    AttributeType, CallError, Failure, FileKind, FileStat, KindSpec, ScalarType, VerifyResult,
};
