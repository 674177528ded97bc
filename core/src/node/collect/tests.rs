use std::vec::Vec as StdVec;

use proptest::prelude::*;

use super::*;

fn id(board: u8, port: u8) -> HardwareId {
    HardwareId {
        dna: [board; 12],
        port,
    }
}

/// Node `board`'s report of edges to `peers`, (board, port) each, from its
/// ports 0, 1, ...
fn report(board: u8, peers: &[(u8, u8)]) -> Report {
    let mut r = Report {
        dna: [board; 12],
        made_ns: 0,
        edges: Vec::new(),
    };
    for (port, &(peer, peer_port)) in peers.iter().enumerate() {
        let edge = Edge {
            port: port as u8,
            peer: id(peer, peer_port),
            ugn: Some(-(port as i64) * 1_000_003),
        };
        r.edges.push(edge).unwrap();
    }
    r
}

fn record(report: &Report) -> StdVec<u8> {
    let mut out: Vec<u8, { MAX_RECORD + 2 }> = Vec::new();
    Collect::<1>::encode(&mut out, report);
    out.to_vec()
}

/// Feeds `stream` to an assembly in reads of the given sizes, each no more
/// than the assembly asks for, as `Collect` reads.
fn reassemble(stream: &[u8], reads: &[usize]) -> Result<StdVec<Report>, Error> {
    let mut assembly = Assembly::default();
    let mut reports = StdVec::new();
    let mut at = 0;
    let mut sizes = reads.iter().cycle();
    while at < stream.len() {
        let size = (*sizes.next().unwrap()).clamp(1, assembly.need());
        let end = (at + size).min(stream.len());
        if let Some(r) = assembly.feed(&stream[at..end])? {
            reports.push(r);
        }
        at = end;
    }
    Ok(reports)
}

#[test]
fn the_widest_report_fits_a_record() {
    let peers = [(255, 255); MAX_LINKS];
    let mut wide = report(255, &peers);
    wide.made_ns = u64::MAX;
    for e in &mut wide.edges {
        e.ugn = Some(i64::MIN);
    }
    let bytes = record(&wide);
    assert_eq!(
        bytes.len() - 2,
        usize::from(u16::from_le_bytes([bytes[0], bytes[1]]))
    );
    assert!(bytes.len() - 2 <= MAX_RECORD);
    assert_eq!(reassemble(&bytes, &[1]).unwrap(), [wide]);
}

#[test]
fn a_length_longer_than_any_report_is_refused() {
    let too_long = (MAX_RECORD as u16 + 1).to_le_bytes();
    assert_eq!(reassemble(&too_long, &[2]), Err(Error::MalformedRequest));
    // A length that fits but bytes that are no report.
    assert_eq!(
        reassemble(&[3, 0, 0xff, 0xff, 0xff], &[5]),
        Err(Error::MalformedRequest)
    );
}

proptest! {
    /// However the stream is cut into reads, the same reports come out, in
    /// order: a short read only means more later.
    #[test]
    fn short_reads_are_normal(
        boards in proptest::collection::vec(0u8..=255, 1..6),
        reads in proptest::collection::vec(1usize..40, 1..8),
    ) {
        let reports: StdVec<Report> = boards
            .iter()
            .map(|&b| report(b, &[(b.wrapping_add(1), 3), (b.wrapping_add(2), 0)][..usize::from(b % 3)]))
            .collect();
        let stream: StdVec<u8> = reports.iter().flat_map(record).collect();
        prop_assert_eq!(reassemble(&stream, &reads).unwrap(), reports);
    }

    #[test]
    fn garbage_never_panics_the_assembly(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = reassemble(&bytes, &[7]);
    }
}

#[test]
fn a_collection_is_complete_when_every_edge_is_seen_from_both_ends() {
    let mut book: Collection<4> = Collection::default();
    // 1 -- 2 -- 3, a line: 1's port 0 to 2's port 0, 2's port 1 to 3's 0.
    assert!(book.add(report(1, &[(2, 0)])));
    assert!(!book.complete(), "2 has not reported");
    assert!(book.add(report(2, &[(1, 0), (3, 0)])));
    assert!(!book.complete(), "3 has not reported");
    assert!(book.add(report(3, &[])));
    assert!(!book.complete(), "3 does not see its link to 2 yet");
    assert!(book.add(report(3, &[(2, 1)])));
    assert!(book.complete());
    assert_eq!(
        book.reports().len(),
        3,
        "a later report replaces the earlier"
    );
    assert!(book.add(report(4, &[])));
    assert!(!book.add(report(5, &[])), "the book holds 4 nodes");
}

#[test]
fn an_empty_book_or_edges_whose_ports_disagree_are_not_complete() {
    let mut book: Collection<4> = Collection::default();
    assert!(!book.complete(), "nothing collected is nothing complete");
    // 1's port 0 says it reaches 2's port 0, but 2's port 0 says it
    // reaches 1's port 5.
    book.add(report(1, &[(2, 0)]));
    book.add(report(2, &[(1, 5)]));
    assert!(!book.complete());
    book.add(report(2, &[(1, 0)]));
    assert!(book.complete());
}

#[test]
fn an_older_report_arriving_late_does_not_replace_a_newer_one() {
    let made = |peers: &[(u8, u8)], ms: u64| Report {
        made_ns: ms * 1_000_000,
        ..report(1, peers)
    };
    let mut book: Collection<2> = Collection::default();
    book.add(made(&[(2, 0), (3, 0)], 5_000));
    // Made earlier, relayed the long way round: not taken.
    book.add(made(&[(2, 0)], 4_990));
    assert_eq!(book.get(&[1; 12]).unwrap().edges.len(), 2);
    // Made more than a second before what the book has: the node's clock
    // started over, so it rebooted, and its report is taken.
    book.add(made(&[], 3));
    assert!(book.get(&[1; 12]).unwrap().edges.is_empty());
}
