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
    /// Frames written again because the peer's link ack did not come in time.
    link_retransmits,
    /// Polls that found the frame already handled still being re-streamed by
    /// the hardware. This is the ringbuffer's normal behaviour, not a fault.
    link_restreams,
    /// Frames dropped because their sequence number was already delivered.
    drop_duplicate,
    /// Frames dropped because their CRC-32C did not match (torn or corrupt).
    drop_corrupt,
    /// Frames dropped because the IP header's length disagreed with the frame.
    drop_malformed_len,
    /// Frames dropped because they claimed more bytes than the link holds.
    drop_oversized,
    /// Frames dropped because of an unknown link or IP version.
    drop_bad_version,
    /// Outgoing packets dropped because the transmit queue was full.
    drop_tx_full,
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
        assert_eq!(fields.len(), 19);
        assert_eq!(
            fields[0],
            StatsField {
                name: "frames_tx",
                value: 3
            }
        );
        assert_eq!(
            fields[18],
            StatsField {
                name: "pongs_rx",
                value: 9
            }
        );
    }
}
