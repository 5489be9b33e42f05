//! Host-side bindings of the `zip-oss:pack/component` world (from `wit/`): the
//! `wasi:config/store@0.2.0-draft-2024-09-27` import we provide and the `zip-pack` export we call.
//!
//! The generated world type is `bindings::Component` (and `ComponentPre`); keep it behind the
//! module path so it does not shadow `wasmtime::component::Component`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "zip-oss:pack/component",
    exports: { default: async },
});

pub use exports::zip_oss::pack::zip_pack::{
    Compression, NameEncoding, PackError, PackRequest, PackSummary, Provider, SourceFile,
    StoreConfig,
};
