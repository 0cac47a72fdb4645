//! Batched UDP sends for the fan-out: packets for many viewers are built into one arena and
//! handed to the kernel with one `sendmmsg(2)` per [`BATCH`] datagrams instead of one `sendto`
//! each. The arena is allocated once per thread; building a packet writes straight into its slot,
//! so the payload is copied once per viewer, where it is also encrypted.

use std::cell::RefCell;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use nix::sys::socket::{sendmmsg, MsgFlags, MultiHeaders, SockaddrStorage};

/// Datagrams per `sendmmsg` call.
pub const BATCH: usize = 64;
/// Bytes reserved per datagram (above any packet the SFU builds).
pub const SLOT: usize = 1536;

/// A batch of datagrams waiting for one system call.
pub struct SendBatch {
    arena: Box<[u8]>,
    lens: [usize; BATCH],
    addrs: Vec<Option<SockaddrStorage>>,
    len: usize,
}

thread_local! {
    /// The kernel message headers `sendmmsg` fills, one set per thread: they hold raw pointers
    /// (not `Send`), and a flush never spans an await, so a room task on any worker thread
    /// uses that thread's set.
    static HEADERS: RefCell<MultiHeaders<SockaddrStorage>> =
        RefCell::new(MultiHeaders::preallocate(BATCH, None));
}

impl std::fmt::Debug for SendBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendBatch").field("len", &self.len).finish()
    }
}

/// What a flush did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flushed {
    pub sent: usize,
    pub dropped: usize,
}

impl Default for SendBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl SendBatch {
    pub fn new() -> SendBatch {
        SendBatch {
            arena: vec![0u8; BATCH * SLOT].into_boxed_slice(),
            lens: [0; BATCH],
            addrs: Vec::with_capacity(BATCH),
            len: 0,
        }
    }

    /// Whether no datagram waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the batch must be flushed before the next [`SendBatch::slot`].
    pub fn is_full(&self) -> bool {
        self.len == BATCH
    }

    /// The buffer of the next datagram (`SLOT` bytes). Call [`SendBatch::push`] to keep it;
    /// the batch must not be full.
    pub fn slot(&mut self) -> &mut [u8] {
        let i = self.len.min(BATCH - 1);
        &mut self.arena[i * SLOT..(i + 1) * SLOT]
    }

    /// Keeps the first `len` bytes of the current slot as a datagram for `to`.
    pub fn push(&mut self, len: usize, to: SocketAddr) {
        debug_assert!(!self.is_full() && len <= SLOT);
        self.lens[self.len] = len.min(SLOT);
        self.addrs.push(Some(SockaddrStorage::from(to)));
        self.len += 1;
    }

    /// Forgets everything queued (benchmarks build batches without sending them).
    pub fn clear(&mut self) {
        self.len = 0;
        self.addrs.clear();
    }

    /// Sends everything queued without waiting. A datagram the kernel refuses (full buffer,
    /// unreachable address) is dropped and counted; the others still go.
    pub fn flush(&mut self, socket: &impl AsRawFd) -> Flushed {
        let mut out = Flushed::default();
        let mut from = 0;
        while from < self.len {
            let slices: [[IoSlice<'_>; 1]; BATCH] = std::array::from_fn(|i| {
                let j = from + i;
                if j < self.len {
                    [IoSlice::new(&self.arena[j * SLOT..j * SLOT + self.lens[j]])]
                } else {
                    [IoSlice::new(&[])]
                }
            });
            let n = self.len - from;
            let addrs = &self.addrs[from..self.len];
            let result = HEADERS.with_borrow_mut(|headers| {
                sendmmsg(
                    socket.as_raw_fd(),
                    headers,
                    slices.iter().take(n),
                    addrs,
                    [],
                    MsgFlags::MSG_DONTWAIT,
                )
                .map(|r| r.count())
            });
            match result {
                Ok(sent) if sent > 0 => {
                    out.sent += sent;
                    from += sent;
                }
                // The first datagram left was refused: drop it and go on with the rest.
                _ => {
                    out.dropped += 1;
                    from += 1;
                }
            }
        }
        self.len = 0;
        self.addrs.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_reaches_several_sockets_in_order() {
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx: Vec<std::net::UdpSocket> = (0..3)
            .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let mut batch = SendBatch::new();
        for round in 0..(BATCH + 10) {
            if batch.is_full() {
                assert_eq!(batch.flush(&tx).sent, BATCH);
            }
            let to = rx[round % 3].local_addr().unwrap();
            let slot = batch.slot();
            slot[..2].copy_from_slice(&(round as u16).to_be_bytes());
            batch.push(2 + round % 7, to);
        }
        assert_eq!(
            batch.flush(&tx),
            Flushed {
                sent: 10,
                dropped: 0
            }
        );
        assert!(batch.is_empty());
        for (k, s) in rx.iter().enumerate() {
            s.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 64];
            let mut expect = k;
            while let Ok(n) = s.recv(&mut buf) {
                assert_eq!(u16::from_be_bytes([buf[0], buf[1]]) as usize, expect);
                assert_eq!(n, 2 + expect % 7);
                expect += 3;
            }
            assert!(expect >= BATCH + 10, "socket {k} got up to {expect}");
        }
    }

    #[test]
    fn a_refused_datagram_does_not_stop_the_rest() {
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = SendBatch::new();
        batch.push(4, rx.local_addr().unwrap());
        // An IPv6 destination on an IPv4 socket is refused by the kernel.
        batch.push(4, "[::1]:9".parse().unwrap());
        batch.push(4, rx.local_addr().unwrap());
        let f = batch.flush(&tx);
        assert_eq!(
            f,
            Flushed {
                sent: 2,
                dropped: 1
            }
        );
    }
}
