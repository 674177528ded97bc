//! The Thunderbolt control channel's datagram classifier
//! (`tidenet_thunderbolt::probe::Datagram::classify`): every byte sequence
//! sorts as exactly what the DCF format says, and a probe encodes back to
//! its bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidenet_thunderbolt::probe::{ping, pong, Datagram, PING_MAGIC, PONG_MAGIC, PROBE_LEN};

fuzz_target!(|data: &[u8]| {
    let magic = data
        .get(..8)
        .map(|m| u64::from_be_bytes(m.try_into().unwrap_or_default()));
    let probe = data.len() == PROBE_LEN;
    match Datagram::classify(data) {
        Datagram::Ping(stamp) => {
            assert!(probe && magic == Some(PING_MAGIC));
            assert_eq!(ping(stamp), data);
        }
        Datagram::Pong(stamp) => {
            assert!(probe && magic == Some(PONG_MAGIC));
            assert_eq!(pong(stamp), data);
        }
        Datagram::Message(message) => {
            assert!(!probe || !matches!(magic, Some(PING_MAGIC | PONG_MAGIC)));
            assert_eq!(message, data);
        }
    }
});
