// TEMPORARY probe (to be deleted): where does endpoint-change-to-traffic time go?
#[path = "../tests/support/mod.rs"]
mod support;
use std::time::{Duration, Instant};
use ngx::{Converger, Mode};
use support::*;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let backs = [backend(20, "e0").await, backend(20, "e1").await, backend(20, "e2").await];
    let mut node = Node::new(Mode::Dynamic);
    let r = || vec![support::route("shop/web", "shop.test", "/", "web")];
    let agent = ngx::Agent::start(node.agent_config()).unwrap();
    agent.apply(node.state(r(), vec![service("web", vec![backs[0].peer()])])).await.unwrap();
    node.start_nginx().await;
    let mut total = vec![];
    for i in 1..=200 {
        let b = &backs[i % 3];
        let t = Instant::now();
        agent.submit(node.state(r(), vec![service("web", vec![b.peer()])]));
        loop {
            if let Some((200, body)) = node.hit("shop.test", "/").await { if body == b.name { break; } }
            assert!(t.elapsed() < Duration::from_secs(20));
        }
        total.push(t.elapsed());
    }
    total.sort();
    println!("total: p50 {:?} p99 {:?} max {:?}", total[100], total[198], total[199]);
    let _ = Converger::new;
}
