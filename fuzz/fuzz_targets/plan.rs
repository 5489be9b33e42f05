#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| zip_oss_core::fuzzing::plan(data));
