//! `wasi:io/streams.[method]output-stream.write` as wasmtime-wasi-io defines it, but taking
//! the guest's bytes out of its memory with one copy.
//!
//! wasmtime 48 lifts a `list<u8>` argument into a `Vec<u8>` element by element (an
//! iterator extending the `Vec`), and every byte of every part a pack uploads is such an
//! argument: it was 11 % of the CPU a carried gigabyte costs (`perf`, `bench --scenario
//! ceiling-stored`). Taken as a `WasmList<u8>`, the bytes are a slice of the guest's memory,
//! copied once into the `Bytes` the stream keeps. What the stream does with them, and every
//! error, is wasmtime-wasi-io's own.

use bytes::Bytes;
use wasmtime::component::{Linker, Resource, WasmList};
use wasmtime::StoreContextMut;
use wasmtime_wasi::p2::{DynOutputStream, StreamError};
use wasmtime_wasi_io::bindings::wasi::io::streams::{Host as _, StreamError as WitStreamError};

use crate::state::HostState;

/// The interface as wasmtime-wasi-io 48 links it (the linker serves any 0.2.x import from it).
pub(crate) const INTERFACE: &str = "wasi:io/streams@0.2.12";

/// Replaces `output-stream.write` in a linker that already has wasmtime-wasi's imports.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    linker.allow_shadowing(true);
    linker
        .instance(INTERFACE)?
        .func_wrap("[method]output-stream.write", write)?;
    linker.allow_shadowing(false);
    Ok(())
}

fn write(
    mut store: StoreContextMut<'_, HostState>,
    (stream, bytes): (Resource<DynOutputStream>, WasmList<u8>),
) -> wasmtime::Result<(Result<(), WitStreamError>,)> {
    let bytes = Bytes::copy_from_slice(bytes.as_le_slice(&store));
    let table = store.data_mut().table();
    let written = match table.get_mut(&stream) {
        Ok(s) => s.write(bytes),
        Err(e) => Err(StreamError::from(e)),
    };
    Ok((match written {
        Ok(()) => Ok(()),
        Err(e) => Err(table.convert_stream_error(e)?),
    },))
}
