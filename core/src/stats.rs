//! Counters every transport keeps, shown by `stats` in the shell and the demo.

/// One named counter, as the shell prints it: `name=value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatsField {
    /// Stable, greppable name.
    pub name: &'static str,
    /// The counter's value.
    pub value: u64,
}

macro_rules! stats {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {
        /// Link and stack counters since start (or the last reset).
        ///
        /// Link counters count *frames*, the unit the link layer handles; stack
        /// counters count segments, datagrams and stream bytes. A transport
        /// that has no such layer leaves its counters at zero.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub struct Stats {
            $($(#[doc = $doc])* pub $name: u64,)*
        }

        impl Stats {
            /// Every counter with its name, in a fixed order.
            pub fn fields(&self) -> [StatsField; stats!(@count $($name)*)] {
                [$(StatsField { name: stringify!($name), value: self.$name },)*]
            }

            /// Adds `other`'s counters to these, saturating: a node's total
            /// over its links.
            pub fn add(&mut self, other: &Stats) {
                $(self.$name = self.$name.saturating_add(other.$name);)*
            }
        }
    };
    (@count) => { 0 };
    (@count $head:ident $($tail:ident)*) => { 1 + stats!(@count $($tail)*) };
}

stats! {
    /// Distinct frames written to the link.
    frames_tx,
    /// Frames accepted and handed to the stack.
    frames_rx,
    /// Frames written again: the peer asked for a rewind, or its
    /// acknowledgement did not come in time.
    link_retransmits,
    /// Looks at the link that found nothing new: the hardware re-streaming
    /// what was there before. This is the ringbuffer's normal behaviour,
    /// not a fault.
    link_restreams,
    /// Rewinds after the peer's acknowledgement did not come within the
    /// time-out.
    link_timeouts,
    /// Rewind requests sent: a frame failed its check twice, or never
    /// showed.
    naks_tx,
    /// Rewind requests from the peer served.
    naks_rx,
    /// Frames that failed their CRC-32C when read again (torn or corrupt).
    drop_corrupt,
    /// Frames the peer said it wrote whose header never showed (lost).
    drop_lost,
    /// Packets whose IP header's length disagreed with the frame.
    drop_malformed_len,
    /// Packets whose IP header claimed more bytes than the link carries.
    drop_oversized,
    /// Packets of an unknown IP version, and peers of another link format.
    drop_bad_version,
    /// Outgoing packets dropped because the link's window was full.
    drop_tx_full,
    /// Times the link came up.
    link_ups,
    /// Times it went down because the peer fell silent.
    down_peer_silent,
    /// Times it went down because the peer started a new session.
    down_peer_restarted,
    /// Times it went down because the peer started aligning again.
    down_peer_realigning,
    /// Times it went down because the peer did not finish the handshake.
    down_handshake_timeout,
    /// Times the alignment protocol stalled and started over.
    align_restarts,
    /// TCP segments sent.
    tcp_segments_tx,
    /// TCP segments that carried sequence space already sent once.
    tcp_retransmits,
    /// Stream payload bytes accepted by `send`.
    stream_bytes_tx,
    /// Stream payload bytes returned by `recv`.
    stream_bytes_rx,
    /// Control datagrams sent.
    datagrams_tx,
    /// Control datagrams received.
    datagrams_rx,
    /// Pings sent.
    pings_tx,
    /// Pings from the peer that were answered.
    pings_answered,
    /// Pongs received for our pings.
    pongs_rx,
    /// Remote requests from the peer this node's policy refused
    /// (`forbidden`). The node counts them, not the transport.
    remote_refused,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_name_every_counter_once_in_order() {
        let stats = Stats {
            frames_tx: 3,
            pongs_rx: 9,
            ..Stats::default()
        };
        let fields = stats.fields();
        assert_eq!(fields.len(), 29);
        assert_eq!(
            fields[0],
            StatsField {
                name: "frames_tx",
                value: 3
            }
        );
        assert_eq!(
            fields[27],
            StatsField {
                name: "pongs_rx",
                value: 9
            }
        );
    }
}
