//! The endpoint's UDP socket: large datagrams, with segmentation offload kept within what one
//! `sendmsg` may carry.
//!
//! quinn sends up to 10 datagrams of the path's MTU in one transmit, handed to the kernel as one
//! buffer cut into segments (UDP GSO). The kernel refuses a GSO send whose total exceeds one IP
//! packet's payload (`EMSGSIZE`, which quinn-udp drops silently, as it does for MTU probes): with
//! loopback's 64 KiB MTU, every transmit of more than one datagram would be lost. [`SplitSocket`]
//! cuts such a transmit into sends of at most [`MAX_GSO_BYTES`] each, so the same endpoint sends
//! ten 1,452-byte datagrams per `sendmsg` on Ethernet and one 64 KiB datagram per `sendmsg` on
//! loopback.

use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};

/// The most UDP payload bytes one send may carry: an IPv4 packet's 65,535 bytes less its IP and UDP
/// headers (IPv6 allows 20 more; the smaller bound serves both).
pub(crate) const MAX_GSO_BYTES: usize = 65_535 - 20 - 8;

/// A UDP socket whose sends never exceed [`MAX_GSO_BYTES`]: a larger transmit is sent as several.
pub(crate) struct SplitSocket {
    inner: Arc<dyn AsyncUdpSocket>,
}

impl SplitSocket {
    /// Wraps `inner`.
    pub(crate) fn new(inner: Arc<dyn AsyncUdpSocket>) -> Arc<Self> {
        Arc::new(Self { inner })
    }
}

impl fmt::Debug for SplitSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SplitSocket").field("inner", &self.inner).finish()
    }
}

/// The sends `transmit` is cut into: pieces of whole segments, each at most [`MAX_GSO_BYTES`]
/// (a single datagram goes whole, as before).
fn pieces<'a>(transmit: &Transmit<'a>) -> impl Iterator<Item = Transmit<'a>> {
    let segment = transmit.segment_size.unwrap_or(transmit.contents.len()).max(1);
    let per_send = (MAX_GSO_BYTES / segment).max(1) * segment;
    let (destination, ecn, src_ip) = (transmit.destination, transmit.ecn, transmit.src_ip);
    transmit.contents.chunks(per_send).map(move |contents| Transmit {
        destination,
        ecn,
        contents,
        segment_size: (contents.len() > segment).then_some(segment),
        src_ip,
    })
}

impl AsyncUdpSocket for SplitSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        self.inner.clone().create_io_poller()
    }

    /// Sends the pieces in turn. If one would block, the whole transmit is tried again later:
    /// the peer drops the pieces it then receives twice, as it drops any duplicated packet.
    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        if transmit.contents.len() <= MAX_GSO_BYTES {
            return self.inner.try_send(transmit);
        }
        pieces(transmit).try_for_each(|piece| self.inner.try_send(&piece))
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_recv(cx, bufs, meta)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        self.inner.max_transmit_segments()
    }

    fn max_receive_segments(&self) -> usize {
        self.inner.max_receive_segments()
    }

    fn may_fragment(&self) -> bool {
        self.inner.may_fragment()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transmit(contents: &[u8], segment_size: Option<usize>) -> Transmit<'_> {
        Transmit { destination: ([127, 0, 0, 1], 1).into(), ecn: None, contents, segment_size, src_ip: None }
    }

    /// The pieces as (length, segment size).
    fn cut(len: usize, segment_size: Option<usize>) -> Vec<(usize, Option<usize>)> {
        let contents = vec![0; len];
        pieces(&transmit(&contents, segment_size)).map(|p| (p.contents.len(), p.segment_size)).collect()
    }

    #[test]
    fn ethernet_sized_segments_stay_in_one_send() {
        assert_eq!(cut(14_520, Some(1_452)), [(14_520, Some(1_452))]);
    }

    #[test]
    fn loopback_sized_segments_go_one_per_send() {
        let segment = 65_495;
        assert_eq!(
            cut(3 * segment - 10, Some(segment)),
            [(segment, None), (segment, None), (segment - 10, None)]
        );
    }

    #[test]
    fn a_send_holds_as_many_whole_segments_as_fit() {
        // 4 segments of 16,000 bytes fit in one send, a fifth does not.
        assert_eq!(cut(6 * 16_000, Some(16_000)), [(64_000, Some(16_000)), (32_000, Some(16_000))]);
        assert_eq!(cut(4 * 16_000 + 5, Some(16_000)), [(64_000, Some(16_000)), (5, None)]);
    }

    #[test]
    fn a_single_datagram_goes_whole() {
        assert_eq!(cut(65_000, None), [(65_000, None)]);
    }
}
