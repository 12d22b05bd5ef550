//! A gate in front of the WebSocket codec that hands it one frame at a time, and refuses a
//! frame whose header declares more than the hard cap as soon as the header has arrived.
//!
//! Why it exists: actix-web-actors' `WsStream` reads every chunk the connection has ready
//! into one buffer before it decodes anything, and actix-http's codec checks a frame's size
//! only once the whole frame is in that buffer. A client that declares a 1 GiB frame and
//! keeps streaming, or sends small frames faster than the session handles them, makes the
//! node buffer without bound (measured: 12 MiB → over 1 GiB RSS from one connection). The
//! gate sits between the HTTP payload and `WsStream`: it reads only until one complete
//! frame is buffered, yields that frame, and returns `Pending` (waking itself) so that
//! `WsStream` decodes it before reading more. One connection therefore holds at most the
//! hard cap plus one chunk, whatever it sends. A patched actix-http would do the same check
//! one layer lower but would have to be kept in step with upstream; this adapter uses only
//! the public `Stream` interface.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::error::PayloadError;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;

/// Where the next frame ends, or why it never may.
#[derive(Debug, PartialEq, Eq)]
enum Boundary {
    /// The buffer holds a whole frame of this many bytes (header included).
    Frame(usize),
    /// The header declares a payload over the cap.
    TooLarge,
}

/// Reads a frame header: `None` while it is incomplete.
fn boundary(buf: &[u8], cap: usize) -> Option<Boundary> {
    let second = *buf.get(1)?;
    let (length, mut header) = match second & 0x7F {
        126 => (
            u64::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])),
            4,
        ),
        127 => {
            let bytes: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(bytes), 10)
        }
        short => (u64::from(short), 2),
    };
    if length > cap as u64 {
        return Some(Boundary::TooLarge);
    }
    if second & 0x80 != 0 {
        header += 4;
    }
    let total = header + length as usize;
    (buf.len() >= total).then_some(Boundary::Frame(total))
}

/// Set once the gate refused an oversized frame, so the session closes with 1009.
#[derive(Clone, Default)]
pub struct Oversize(Arc<AtomicBool>);

impl Oversize {
    /// Whether the gate refused a frame as too large.
    pub fn happened(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The gate; see the module documentation.
pub struct FrameGate<S> {
    inner: S,
    buf: BytesMut,
    cap: usize,
    /// A frame was just handed out: let the codec decode it before reading on.
    handed_out: bool,
    ended: bool,
    /// A frame was refused: nothing more is read or handed out.
    refused: bool,
    oversize: Oversize,
}

impl<S> FrameGate<S> {
    /// A gate over `inner` for frames of at most `cap` payload bytes.
    pub fn new(inner: S, cap: usize) -> (FrameGate<S>, Oversize) {
        let oversize = Oversize::default();
        let gate = FrameGate {
            inner,
            buf: BytesMut::new(),
            cap,
            handed_out: false,
            ended: false,
            refused: false,
            oversize: oversize.clone(),
        };
        (gate, oversize)
    }
}

impl<S> Stream for FrameGate<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.refused {
            return Poll::Ready(None);
        }
        if this.handed_out {
            this.handed_out = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        loop {
            match boundary(&this.buf, this.cap) {
                Some(Boundary::Frame(total)) => {
                    this.handed_out = true;
                    let frame = this.buf.split_to(total).freeze();
                    if this.buf.is_empty() {
                        // An empty buffer still holds the allocation the frame came in (as
                        // large as the largest frame so far); let the frame own it alone,
                        // so an idle session keeps no buffer here.
                        this.buf = BytesMut::new();
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                Some(Boundary::TooLarge) => {
                    this.oversize.0.store(true, Ordering::Relaxed);
                    this.refused = true;
                    this.buf = BytesMut::new();
                    return Poll::Ready(Some(Err(PayloadError::Overflow)));
                }
                None if this.ended => {
                    // A partial frame at the end: the codec reports it.
                    let rest = std::mem::take(&mut this.buf);
                    return Poll::Ready((!rest.is_empty()).then(|| Ok(rest.freeze())));
                }
                None => {}
            }
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => this.buf.extend_from_slice(&chunk),
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
                Poll::Ready(None) => this.ended = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn frame(payload_len: usize, masked: bool) -> Vec<u8> {
        let mut out = vec![0x81];
        let mask = if masked { 0x80 } else { 0 };
        match payload_len {
            0..=125 => out.push(mask | payload_len as u8),
            126..=65535 => {
                out.push(mask | 126);
                out.extend_from_slice(&(payload_len as u16).to_be_bytes());
            }
            _ => {
                out.push(mask | 127);
                out.extend_from_slice(&(payload_len as u64).to_be_bytes());
            }
        }
        if masked {
            out.extend_from_slice(&[1, 2, 3, 4]);
        }
        out.extend(std::iter::repeat_n(b'x', payload_len));
        out
    }

    #[test]
    fn boundaries_follow_the_header() {
        let small = frame(5, true);
        assert_eq!(boundary(&small, 100), Some(Boundary::Frame(11)));
        assert_eq!(boundary(&small[..10], 100), None);
        let medium = frame(300, true);
        assert_eq!(boundary(&medium, 1000), Some(Boundary::Frame(308)));
        assert_eq!(boundary(&medium[..3], 1000), None);
        let large = frame(70_000, false);
        assert_eq!(boundary(&large, 100_000), Some(Boundary::Frame(70_010)));
        // Refused from the header alone, long before the payload.
        assert_eq!(boundary(&large[..10], 1000), Some(Boundary::TooLarge));
        let mut giant = vec![0x81, 0x80 | 127];
        giant.extend_from_slice(&(1u64 << 40).to_be_bytes());
        assert_eq!(boundary(&giant, 1 << 20), Some(Boundary::TooLarge));
    }

    #[actix_rt::test]
    async fn keeps_no_buffer_once_a_frame_is_handed_out() {
        // Two chunks, so the buffer grows past the frame (40,000 doubled to 80,000).
        let mut whole = Bytes::from(frame(60_000, true));
        let first = whole.split_to(40_000);
        let chunks = futures_util::stream::iter(vec![Ok(first), Ok(whole)]);
        let (mut gate, _) = FrameGate::new(chunks, 64 * 1024);
        assert_eq!(gate.next().await.unwrap().unwrap().len(), 60_008);
        assert_eq!(gate.buf.capacity(), 0);
    }

    #[actix_rt::test]
    async fn hands_out_one_frame_at_a_time_and_refuses_a_giant_header() {
        let mut bytes = frame(3, true);
        bytes.extend(frame(4, true));
        let mut giant = vec![0x81, 0x80 | 127];
        giant.extend_from_slice(&(1u64 << 30).to_be_bytes());
        bytes.extend(giant);
        bytes.extend(std::iter::repeat_n(0u8, 4096));
        let chunks = futures_util::stream::iter(vec![Ok(Bytes::from(bytes))]);
        let (mut gate, oversize) = FrameGate::new(chunks, 1024);
        assert_eq!(gate.next().await.unwrap().unwrap().len(), 9);
        assert_eq!(gate.next().await.unwrap().unwrap().len(), 10);
        assert!(!oversize.happened());
        assert!(matches!(
            gate.next().await,
            Some(Err(PayloadError::Overflow))
        ));
        assert!(oversize.happened());
        // Nothing after a refused frame, although more bytes (zero-length frames) follow.
        assert!(gate.next().await.is_none());
    }
}
