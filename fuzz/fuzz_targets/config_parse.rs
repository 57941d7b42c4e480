#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cec_gateway::fuzzing::config_parse(data));
