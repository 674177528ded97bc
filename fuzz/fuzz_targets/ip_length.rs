//! IP-length framing (`tidenet_tcpip::device::check`): a frame goes to
//! smoltcp only when it is an IPv4 packet with a whole header (IHL of 5 or
//! more) whose total length is exactly the frame's, within the MTU. Each
//! verdict is checked against that rule, and every frame let through
//! against smoltcp's own parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smoltcp::wire::Ipv4Packet;
use tidenet_fuzz::Input;
use tidenet_tcpip::device::{check, Malformed};

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mtu = usize::from(input.u16() % 2048);
    let packet = input.rest();
    let expected = match *packet {
        [first, _, hi, lo, ..] => {
            let total = usize::from(u16::from_be_bytes([hi, lo]));
            let header = usize::from(first & 0x0f) * 4;
            if first >> 4 != 4 {
                Err(Malformed::BadVersion)
            } else if total > mtu {
                Err(Malformed::Oversized)
            } else if header >= 20 && total >= header && total == packet.len() {
                Ok(())
            } else {
                Err(Malformed::Length)
            }
        }
        _ => Err(Malformed::Length),
    };
    assert_eq!(check(packet, mtu), expected, "mtu {mtu}");
    if expected.is_ok() {
        let ip = Ipv4Packet::new_checked(packet).expect("smoltcp reads what check lets through");
        assert_eq!(usize::from(ip.total_len()), packet.len());
    }
});
