#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kanrepo::fuzzing::table(data));
