#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cec_gateway::fuzzing::response_rewrite(data));
