//! Fuzzes the WebSocket framing itself: raw client bytes (what follows the HTTP upgrade),
//! cut into chunks of a size the input chooses, through the node's frame gate
//! (actors/src/frame_gate.rs) and then actix-http's WebSocket codec, as the session's stream
//! sees them.
//!
//! Beyond "no panic", it checks:
//! - the gate never hands the codec more than one frame (header + at most the hard cap) at a
//!   time, so the codec's buffer never holds more than that;
//! - the gate loses, adds and reorders nothing: what it handed out is a prefix of the input;
//! - a header that declares more than the hard cap is refused (an error, the oversize flag
//!   set) and nothing after it is handed out;
//! - the heap stays within a linear bound of the input (common/mod.rs).
#![no_main]

#[allow(dead_code)] // the JSON checks serve the other targets
mod common;

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_codec::Decoder;
use actix_http::ws::Codec;
use actix_web::error::PayloadError;
use bytes::{Bytes, BytesMut};
use chat_actors::frame_gate::FrameGate;
use futures_util::task::noop_waker;
use futures_util::Stream;
use libfuzzer_sys::fuzz_target;

use common::{within_allocation_bound, Counting};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The hard cap for the run: small, so that inputs reach it.
const CAP: usize = 1024;
/// The longest frame header: 2 bytes, an 8-byte length, a 4-byte mask.
const HEADER_MAX: usize = 14;

fuzz_target!(|data: &[u8]| {
    let Some((&chunking, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunking).max(1) * 7;
    within_allocation_bound(data.len(), "ws framing", || run(stream, chunk));
});

fn run(input: &[u8], chunk: usize) {
    let chunks: Vec<Result<Bytes, PayloadError>> = input
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let (mut gate, oversize) = FrameGate::new(futures_util::stream::iter(chunks), CAP);
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut codec = Codec::new().max_size(CAP);
    let mut codec_buf = BytesMut::new();
    let mut handed = 0usize;
    // Every poll either makes progress or is the gate's own yield; bound the loop anyway.
    for _ in 0..(input.len() * 2 + 16) {
        match Pin::new(&mut gate).poll_next(&mut cx) {
            Poll::Pending => continue,
            Poll::Ready(None) => return,
            Poll::Ready(Some(Err(_))) => {
                assert!(oversize.happened(), "the gate failed without an oversized header");
                // Nothing more comes out once a frame is refused.
                for _ in 0..4 {
                    assert!(
                        !matches!(Pin::new(&mut gate).poll_next(&mut cx), Poll::Ready(Some(Ok(_)))),
                        "the gate went on after refusing a frame"
                    );
                }
                return;
            }
            Poll::Ready(Some(Ok(frame))) => {
                assert!(frame.len() <= HEADER_MAX + CAP, "{} bytes handed out at once", frame.len());
                assert_eq!(&input[handed..handed + frame.len()], &frame[..], "bytes lost or reordered");
                handed += frame.len();
                codec_buf.extend_from_slice(&frame);
                assert!(codec_buf.len() <= HEADER_MAX + CAP, "the codec holds {} bytes", codec_buf.len());
                loop {
                    match codec.decode(&mut codec_buf) {
                        Ok(Some(_)) => continue,
                        Ok(None) => break,
                        // A protocol violation (unmasked frame, bad opcode): the session closes.
                        Err(_) => return,
                    }
                }
            }
        }
    }
    panic!("the gate neither ended nor made progress");
}
