#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| simplex_tests::fuzz::ntf_command(data));
