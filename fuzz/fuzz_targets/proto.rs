//! postcard `Request` and `Response` decoding (`tidenet_core::proto`).
//!
//! Whatever decodes must encode again, no longer than it came, and decode
//! to the same value; and a node handed the bytes as a request answers
//! exactly once, with a response that decodes, under the request's tag.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidenet_core::node::{Node, TIMEOUT};
use tidenet_core::proto::{self, MAX_MESSAGE};
use tidenet_core::time::Instant;
use tidenet_fuzz::transport::Fake;

fuzz_target!(|data: &[u8]| {
    let mut buf = [0u8; 4 * MAX_MESSAGE];
    let split = proto::split(data);
    if let Ok((header, body)) = split {
        if let Ok(request) = proto::decode_request(header, body) {
            let len = proto::encode(header, &request, &mut buf).expect("a request encodes");
            assert!(
                len <= data.len(),
                "{request:?} grew from {} to {len}",
                data.len()
            );
            let (again, body) = proto::split(&buf[..len]).expect("its header splits");
            assert_eq!(again, header);
            assert_eq!(proto::decode_request(again, body), Ok(request));
        }
    }
    if let Ok((header, response)) = proto::decode_response(data) {
        let len = proto::encode(header, &response, &mut buf).expect("a response encodes");
        assert!(
            len <= data.len(),
            "{response:?} grew from {} to {len}",
            data.len()
        );
        assert_eq!(proto::decode_response(&buf[..len]), Ok((header, response)));
    }

    // The node's side: exactly one reply, readable, under the right tag.
    let mut node = Node::new([Fake::default()]);
    let mut now = Instant::ZERO;
    assert_eq!(node.request(data, now), Ok(()));
    let mut reply = None;
    for _ in 0..3 {
        node.poll(now);
        if let Some(bytes) = node.take_reply() {
            reply = Some(bytes.to_vec());
            break;
        }
        now = now + TIMEOUT;
    }
    let reply = reply.expect("one reply within the timeout");
    let (header, _) = proto::decode_response(&reply).expect("the reply decodes");
    assert_eq!(header.tag, split.map_or(0, |(h, _)| h.tag));
    assert!(node.take_reply().is_none(), "a second reply");
});
