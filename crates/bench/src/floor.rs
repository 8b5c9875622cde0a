//! The floor: the same messages through one bare actor hop that echoes them, no store, no
//! pairing, no per-chat queue. What the actor runtime itself costs.

use std::time::Instant;

use actix::prelude::*;
use parachute_runtime::messages::{Inbound, Reply};
use tokio::sync::mpsc;

use crate::pipeline::message;
use crate::stats::Report;

struct Echo(mpsc::UnboundedSender<(Reply, Instant)>);

impl Actor for Echo {
    type Context = Context<Self>;
}

impl Handler<Inbound> for Echo {
    type Result = ();

    fn handle(&mut self, msg: Inbound, _: &mut Context<Self>) {
        let text = match msg.content {
            parachute_runtime::messages::Content::Text(text) => text,
            parachute_runtime::messages::Content::Voice(_) | parachute_runtime::messages::Content::Image(_) => {
                String::new()
            }
        };
        let reply = Reply::new(msg.platform, msg.chat, text, Some(msg.event_id));
        let _ = self.0.send((reply, Instant::now()));
    }
}

/// Every message at once through the bare hop.
pub fn run(chats: usize, messages: usize) -> Report {
    System::new().block_on(async move {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let echo = Echo(tx).start();
        let mut sent = Vec::with_capacity(messages);
        let start = Instant::now();
        for index in 0..messages {
            sent.push(Instant::now());
            echo.do_send(message(index % chats, index));
        }
        let mut latencies = Vec::with_capacity(messages);
        let mut last = start;
        while latencies.len() < messages {
            let Some((reply, at)) = rx.recv().await else { break };
            let index: usize = reply.in_reply_to.as_ref().and_then(|e| e.as_str().parse().ok()).unwrap_or(0);
            latencies.push(at - sent[index]);
            last = at;
        }
        Report::new(last - start, latencies)
    })
}
