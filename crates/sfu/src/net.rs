//! Socket drivers: the one UDP reader, and the ICE-TCP acceptor with its per-connection tasks.
//! They only route bytes to room tasks; everything else happens in the rooms.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use rtc::shared::tcp_framing::{frame_packet, TcpFrameDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::demux::{self, Demux};
use crate::room_task::MediaIn;
use crate::{Route, Shared};

/// Largest datagram we accept (above any sane MTU).
const MAX_DATAGRAM: usize = 2048;
/// Queued outbound packets per ICE-TCP connection before sends are dropped.
pub(crate) const TCP_QUEUE: usize = 512;

/// Socket buffer size asked for the media socket. A keyframe fanned out to hundreds of viewers
/// is a burst of megabytes; the default buffers (~200 KiB on Linux) would drop most of it. The
/// kernel caps the request at `net.core.wmem_max`/`rmem_max` (see docs/operations.md).
pub const SOCKET_BUFFER: usize = 4 << 20;

/// A non-blocking UDP socket bound to `addr` with large send and receive buffers (best effort).
pub fn udp_socket(addr: SocketAddr) -> std::io::Result<tokio::net::UdpSocket> {
    tokio::net::UdpSocket::from_std(std_udp_socket(addr)?)
}

/// [`udp_socket`] outside a runtime.
pub fn std_udp_socket(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = socket.set_send_buffer_size(SOCKET_BUFFER) {
        tracing::warn!("cannot enlarge the UDP send buffer: {e}");
    }
    if let Err(e) = socket.set_recv_buffer_size(SOCKET_BUFFER) {
        tracing::warn!("cannot enlarge the UDP receive buffer: {e}");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// The first non-loopback IPv4 address of this host, or loopback.
pub(crate) fn default_ip() -> IpAddr {
    if_addrs::get_if_addrs()
        .ok()
        .and_then(|ifs| {
            ifs.into_iter()
                .filter(|i| !i.is_loopback())
                .map(|i| i.ip())
                .find(|ip| ip.is_ipv4())
        })
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

fn deliver(shared: &Shared, route: &Route, m: MediaIn) -> bool {
    match route.media.try_send(m) {
        Ok(()) => true,
        Err(TrySendError::Full(_)) => {
            // The room is overloaded: dropping here is what keeps the socket drained for the
            // other rooms. Counted, never waited on.
            shared.stats.inbox_drops.fetch_add(1, Ordering::Relaxed);
            true
        }
        Err(TrySendError::Closed(_)) => false,
    }
}

pub(crate) async fn udp_reader(shared: Arc<Shared>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut table: Demux<Route> = Demux::default();
    loop {
        let (n, from) = match shared.udp.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                // ICMP port-unreachable surfaces here on some platforms; keep serving.
                tracing::debug!("udp recv: {e}");
                continue;
            }
        };
        let data = &buf[..n];
        let Some(route) = table.route(from, data, |u| shared.route(u)) else {
            tracing::trace!(
                "dropped {n} bytes from unknown {from} (STUN user {:?})",
                demux::stun_username(data)
            );
            continue;
        };
        let m = MediaIn {
            conn: route.conn,
            from,
            over_tcp: false,
            tcp: None,
            // The one copy of the payload on ingress.
            data: BytesMut::from(data),
            at: Instant::now(),
        };
        if !deliver(&shared, &route, m) {
            table.forget_where(|r| r.media.is_closed());
        }
    }
}

pub(crate) async fn tcp_acceptor(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, from)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(tcp_connection(shared.clone(), stream, from));
            }
            Err(e) => {
                tracing::warn!("tcp accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// One ICE-TCP connection (RFC 4571 framing). The first frame must be a STUN check naming a
/// connection by ufrag; the connection is bound to it for its lifetime.
async fn tcp_connection(shared: Arc<Shared>, stream: TcpStream, from: SocketAddr) {
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Bytes>(TCP_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(p) = rx.recv().await {
            if wr.write_all(&frame_packet(&p)).await.is_err() {
                break;
            }
        }
    });
    let mut decoder = TcpFrameDecoder::new();
    let mut buf = vec![0u8; 8192];
    let mut route: Option<Route> = None;
    'read: loop {
        let n = match tokio::time::timeout(std::time::Duration::from_secs(30), rd.read(&mut buf))
            .await
        {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => n,
        };
        decoder.extend_from_slice(&buf[..n]);
        if decoder.buffered_len() > 256 * 1024 {
            break;
        }
        while let Some(packet) = decoder.next_packet() {
            if route.is_none() {
                let Some(u) = demux::stun_username(&packet) else {
                    break 'read;
                };
                route = shared.route(demux::server_ufrag(u));
                if route.is_none() {
                    break 'read;
                }
            }
            let Some(r) = &route else { break 'read };
            let m = MediaIn {
                conn: r.conn,
                from,
                over_tcp: true,
                // STUN checks carry the writer, so the room learns it even if one is dropped.
                tcp: demux::is_stun(&packet).then(|| tx.clone()),
                data: BytesMut::from(&packet[..]),
                at: Instant::now(),
            };
            if !deliver(&shared, r, m) {
                break 'read;
            }
        }
    }
    drop(tx);
    writer.abort();
}
