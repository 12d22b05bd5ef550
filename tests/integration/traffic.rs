//! The traffic of a network fault test: steady senders and listeners in one room, and
//! probes of live delivery between the nodes.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::roamer::Roamer;
use crate::support::Api;

/// Pause between two sends of one client: a steady load, not a flood.
const SEND_PAUSE: Duration = Duration::from_millis(100);
/// A message pushed through Redis arrives within this (the store is polled only every
/// second while the broker is known to be down, and every ten seconds otherwise).
const LIVE_MAX: Duration = Duration::from_millis(1000);

/// Clients that send (or only listen) in one room until told to stop.
pub struct Load {
    stop: Arc<AtomicBool>,
    /// Acks received so far, by all senders.
    acks: Arc<AtomicUsize>,
    senders: Vec<JoinHandle<Roamer>>,
    listeners: Vec<JoinHandle<Roamer>>,
}

impl Load {
    /// Starts a sender on each node of `senders_at` and a listener on each of
    /// `listeners_at` (indexes into `nodes`). Each sender starts sending as soon as it
    /// has joined, so the later ones join a room whose messages are committing.
    pub async fn start(
        nodes: &[Api],
        code: &str,
        senders_at: &[usize],
        listeners_at: &[usize],
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acks = Arc::new(AtomicUsize::new(0));
        let mut senders = Vec::new();
        for (who, &at) in senders_at.iter().enumerate() {
            let mut roamer = Roamer::join(nodes.to_vec(), at, code, &format!("s{who}")).await;
            let (stop, acks) = (Arc::clone(&stop), Arc::clone(&acks));
            senders.push(tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let client_id = format!("s{who}-{n}");
                    roamer.send(&client_id, &client_id).await;
                    acks.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                    roamer.listen(SEND_PAUSE).await;
                }
                roamer
            }));
        }
        let mut listeners = Vec::new();
        for (who, &at) in listeners_at.iter().enumerate() {
            let mut roamer = Roamer::join(nodes.to_vec(), at, code, &format!("l{who}")).await;
            let stop = Arc::clone(&stop);
            listeners.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    roamer.listen(Duration::from_millis(200)).await;
                }
                roamer
            }));
        }
        Load {
            stop,
            acks,
            senders,
            listeners,
        }
    }

    /// Acks received so far.
    pub fn acks(&self) -> usize {
        self.acks.load(Ordering::Relaxed)
    }

    /// Stops the clients (each finishes the message it is sending) and hands them back.
    pub async fn stop(self) -> (Vec<Roamer>, Vec<Roamer>) {
        self.stop.store(true, Ordering::Relaxed);
        let mut senders = Vec::new();
        for sender in self.senders {
            senders.push(sender.await.unwrap());
        }
        let mut listeners = Vec::new();
        for listener in self.listeners {
            listeners.push(listener.await.unwrap());
        }
        (senders, listeners)
    }
}

/// Measures live delivery between the nodes. In each of two rooms one node only writes and
/// the other only reads, so a message reaches the reader through Redis or not at all (until
/// the store is polled, seconds later): in a room where the reader's node also has a
/// writer, the next local commit would fill the gap from the store and hide a dead
/// subscription. Everyone joins at the start, so that the subscriptions checked are the
/// ones made then (a new subscription would itself reveal a dead connection).
pub struct Probes {
    /// The writer of room `i`, on node `i`.
    writers: Vec<Roamer>,
    /// The reader of room `i`, on the other node.
    readers: Vec<Load>,
}

impl Probes {
    /// Creates the two rooms and joins their writers and readers.
    pub async fn start(nodes: &[Api]) -> Probes {
        let mut writers = Vec::new();
        let mut readers = Vec::new();
        for node in 0..2 {
            let room = nodes[node].create_room().await;
            writers.push(Roamer::join(nodes.to_vec(), node, &room, "writer").await);
            readers.push(Load::start(nodes, &room, &[], &[1 - node]).await);
        }
        Probes { writers, readers }
    }

    /// Sends `rounds` probes from each node and checks that every one is pushed on the
    /// other node within [`LIVE_MAX`] of its ack; returns the slowest.
    pub async fn check(self, rounds: usize) -> Duration {
        let mut writers = self.writers;
        for round in 0..rounds {
            for writer in writers.iter_mut() {
                let client_id = format!("probe-{round}");
                writer.send(&client_id, &client_id).await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let mut slowest = Duration::ZERO;
        let mut late = Vec::new();
        for (node, (writer, readers)) in writers.iter().zip(self.readers).enumerate() {
            assert_eq!(writer.node(), node, "the writer moved to another node");
            let (_, readers) = readers.stop().await;
            let reader = &readers[0];
            assert_ne!(reader.node(), node, "the reader moved to the writer's node");
            for (client_id, (message, acked_at)) in &writer.acked {
                let id = message["id"].as_i64().unwrap();
                match reader.pushed_at.get(&id) {
                    Some(at) if at.saturating_duration_since(*acked_at) <= LIVE_MAX => {
                        slowest = slowest.max(at.saturating_duration_since(*acked_at));
                    }
                    arrival => late.push((
                        node + 1,
                        client_id.clone(),
                        arrival.map(|at| at.saturating_duration_since(*acked_at)),
                    )),
                }
            }
        }
        assert!(
            late.is_empty(),
            "not pushed live to the other node (from node, probe, after): {late:?}"
        );
        slowest
    }
}
