//! Packet capture: where the device's [`PcapWriter`] middleware writes.
//!
//! [`TcpIp`](crate::TcpIp) always layers smoltcp's `PcapWriter` over its
//! [`IpLink`](crate::device::IpLink), between the link and the rest of the
//! stack, so every IP packet smoltcp sends and every one it receives (after
//! the link's CRC and the device's IPv4 checks) passes it. The link carries
//! bare IPv4 packets, so a capture is `LINKTYPE_RAW` (smoltcp's
//! [`PcapLinkType::Ip`], 101).
//!
//! A board has nowhere to write a capture, so the transport's sink defaults
//! to [`NoCapture`], which writes nothing; the middleware then costs only
//! its borrow flag and mode. A host that runs the stack (the simulator)
//! supplies its own [`PcapSink`] through
//! [`TcpIp::with_capture`](crate::TcpIp::with_capture).
//!
//! [`PcapWriter`]: smoltcp::phy::PcapWriter

use smoltcp::phy::PcapLinkType;
pub use smoltcp::phy::PcapSink;
use smoltcp::time::Instant;

/// The sink of a transport that captures nothing: every write is dropped
/// before a header is formatted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoCapture;

impl PcapSink for NoCapture {
    fn write(&mut self, _: &[u8]) {}

    fn global_header(&mut self, _: PcapLinkType) {}

    fn packet(&mut self, _: Instant, _: &[u8]) {}
}
