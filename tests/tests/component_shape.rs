//! The component's imports and exports are exactly what every host we promise can provide:
//! Spin 4.0 (wasi:http 0.2, wasi:config draft-2024-09-27, the usual wasi:cli/clocks/random/io),
//! our wasmtime host, and embedders of `zip-pack`. (Not the `wasmtime serve` CLI: its
//! `-Sconfig` provides `wasi:config@0.2.0-rc.1`, another version; README, "Hosts".)

use wasmtime::component::Component;
use wasmtime::{Config, Engine};
use zip_oss::component_wasm::ComponentSource;

fn names(component: &Component, engine: &Engine) -> (Vec<String>, Vec<String>) {
    let ty = component.component_type();
    let imports = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
    let exports = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    (imports, exports)
}

#[test]
fn imports_only_what_spin_4_provides_and_exports_both_apis() {
    let (bytes, _) = ComponentSource::Default.load().unwrap();
    let engine = Engine::new(&Config::new()).unwrap();
    let component = Component::new(&engine, &bytes).unwrap();
    let (imports, exports) = names(&component, &engine);

    let allowed = |name: &str| {
        let (iface, version) = name.split_once('@').unwrap_or((name, ""));
        match iface.split('/').next().unwrap() {
            "wasi:http" | "wasi:cli" | "wasi:clocks" | "wasi:random" | "wasi:io"
            | "wasi:filesystem" | "wasi:sockets" => version.starts_with("0.2."),
            "wasi:config" => iface == "wasi:config/store" && version == "0.2.0-draft-2024-09-27",
            _ => false,
        }
    };
    let foreign: Vec<&String> = imports.iter().filter(|n| !allowed(n)).collect();
    assert!(
        foreign.is_empty(),
        "imports a host may not provide: {foreign:?}"
    );
    assert!(
        imports
            .iter()
            .any(|n| n.starts_with("wasi:http/outgoing-handler@0.2.")),
        "{imports:?}"
    );
    assert!(
        imports
            .iter()
            .any(|n| n == "wasi:config/store@0.2.0-draft-2024-09-27"),
        "{imports:?}"
    );

    let handlers: Vec<&String> = exports
        .iter()
        .filter(|n| n.starts_with("wasi:http/incoming-handler@0.2."))
        .collect();
    assert_eq!(
        handlers.len(),
        1,
        "exactly one HTTP handler export: {exports:?}"
    );
    assert!(
        exports.iter().any(|n| n == "zip-oss:pack/zip-pack@0.1.0"),
        "{exports:?}"
    );
}
