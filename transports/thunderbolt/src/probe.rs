//! The RTT probe on the control channel, byte for byte as DCF peers send it.
//!
//! A ping and a pong are each 16 bytes: a big-endian u64 magic, then a
//! big-endian u64 timestamp in nanoseconds. A pong echoes its ping's
//! timestamp, so the pinger can match it to the ping it answers.
//!
//! Probes share the control port with messages and carry no other marker.
//! A datagram is a probe only when it is exactly 16 bytes long and starts
//! with a magic; anything else, a truncated or padded probe included, is a
//! message. That ambiguity is the DCF format's, so a 16-byte message that
//! starts with a magic cannot be sent: the peer would answer it as a ping.

/// Magic of a ping: `RTTPT` in ASCII.
pub const PING_MAGIC: u64 = 0x52_5454_5054;
/// Magic of a pong: `RTTPS` in ASCII.
pub const PONG_MAGIC: u64 = 0x52_5454_5053;
/// Length of a ping or a pong.
pub const PROBE_LEN: usize = 16;

/// A received control datagram, sorted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Datagram<'a> {
    /// A ping stamped with the sender's timestamp; answer with a pong.
    Ping(u64),
    /// A pong echoing the timestamp of one of our pings.
    Pong(u64),
    /// Anything else: a message for the application.
    Message(&'a [u8]),
}

impl<'a> Datagram<'a> {
    /// Sorts `bytes` as the DCF format does. Never fails: every byte
    /// sequence is one of the three.
    pub fn classify(bytes: &'a [u8]) -> Self {
        let Ok(probe) = <[u8; PROBE_LEN]>::try_from(bytes) else {
            return Datagram::Message(bytes);
        };
        let [magic, stamp] = [&probe[..8], &probe[8..]].map(|half| {
            let mut word = [0; 8];
            word.copy_from_slice(half);
            u64::from_be_bytes(word)
        });
        match magic {
            PING_MAGIC => Datagram::Ping(stamp),
            PONG_MAGIC => Datagram::Pong(stamp),
            _ => Datagram::Message(bytes),
        }
    }
}

/// A ping stamped with `stamp`.
pub fn ping(stamp: u64) -> [u8; PROBE_LEN] {
    encode(PING_MAGIC, stamp)
}

/// The pong that answers a ping stamped with `stamp`.
pub fn pong(stamp: u64) -> [u8; PROBE_LEN] {
    encode(PONG_MAGIC, stamp)
}

fn encode(magic: u64, stamp: u64) -> [u8; PROBE_LEN] {
    let mut probe = [0; PROBE_LEN];
    probe[..8].copy_from_slice(&magic.to_be_bytes());
    probe[8..].copy_from_slice(&stamp.to_be_bytes());
    probe
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn probes_match_the_dcf_bytes() {
        assert_eq!(
            ping(0x0102_0304_0506_0708),
            [0, 0, 0, 0x52, 0x54, 0x54, 0x50, 0x54, 1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert_eq!(
            pong(1),
            [0, 0, 0, 0x52, 0x54, 0x54, 0x50, 0x53, 0, 0, 0, 0, 0, 0, 0, 1]
        );
    }

    #[test]
    fn truncated_and_padded_probes_are_messages() {
        let full = ping(7);
        assert_eq!(
            Datagram::classify(&full[..15]),
            Datagram::Message(&full[..15])
        );
        let mut long = full.to_vec();
        long.push(0);
        assert_eq!(Datagram::classify(&long), Datagram::Message(&long));
        assert_eq!(Datagram::classify(&[]), Datagram::Message(&[]));
    }

    proptest! {
        #[test]
        fn probes_round_trip(stamp: u64) {
            let (ping, pong) = (ping(stamp), pong(stamp));
            prop_assert_eq!(Datagram::classify(&ping), Datagram::Ping(stamp));
            prop_assert_eq!(Datagram::classify(&pong), Datagram::Pong(stamp));
        }

        #[test]
        fn any_other_bytes_are_a_message(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let magic = bytes.get(..8).map(|m| u64::from_be_bytes(m.try_into().unwrap_or_default()));
            let is_probe = bytes.len() == PROBE_LEN
                && matches!(magic, Some(PING_MAGIC | PONG_MAGIC));
            let sorted = Datagram::classify(&bytes);
            prop_assert_eq!(matches!(sorted, Datagram::Message(m) if m == &bytes[..]), !is_probe);
        }
    }
}
