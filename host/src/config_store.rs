//! `wasi:config/store@0.2.0-draft-2024-09-27`, the version Spin 4 implements over component
//! variables. wasmtime-wasi-config 48 only has `0.2.0-rc.1`, which does not link, so we
//! implement the draft ourselves over a fixed map of values.

use crate::bindings::wasi::config::store::{self, Host};
use crate::state::HostState;

impl Host for HostState {
    fn get(&mut self, key: String) -> Result<Option<String>, store::Error> {
        Ok(self.config.get(&key).map(str::to_string))
    }

    fn get_all(&mut self) -> Result<Vec<(String, String)>, store::Error> {
        let mut all: Vec<_> = self
            .config
            .0
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        all.sort();
        Ok(all)
    }
}
