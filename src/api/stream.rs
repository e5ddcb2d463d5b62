//! A streaming HTTP body fed through a bounded channel: how an attachment
//! goes up (the CLI reads the file a piece at a time) and comes back down
//! (the node opens it a chunk at a time), without either side holding the
//! whole file.

use hyper::body::{Bytes, Frame};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Pieces in flight between the producer and the connection.
pub const DEPTH: usize = 4;

/// A body whose data arrives on a channel; an error ends it.
pub struct ChannelBody {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

impl ChannelBody {
    /// A body and the sender that feeds it.
    pub fn new() -> (
        tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
        ChannelBody,
    ) {
        let (tx, rx) = tokio::sync::mpsc::channel(DEPTH);
        (tx, ChannelBody { rx })
    }
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|r| r.map(Frame::data)))
    }
}
