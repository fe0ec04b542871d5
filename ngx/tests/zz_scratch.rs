mod support;
use std::time::Instant;
use ngx::{Converger, Mode};
use support::*;
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scratch() {
    let backs = [backend(30, "a").await, backend(30, "b").await];
    let mut node = Node::new(Mode::Static);
    let mut c = Converger::new(node.converger_config()).unwrap();
    let r = || vec![route("shop/web", "shop.test", "/", "web")];
    c.apply(&node.state(r(), vec![service("web", vec![backs[0].peer()])])).await.unwrap();
    node.start_nginx().await;
    for i in 0..5 {
        let st = node.state(r(), vec![service("web", vec![backs[i % 2].peer(), backs[(i+1)%2].peer()]), ]);
        let mut st = st; st.upstreams[0].peers.truncate(1 + i % 2);
        let t = Instant::now();
        let plan = c.plan(&st).await.unwrap();
        let tp = t.elapsed();
        let out = c.execute(plan).await.unwrap();
        eprintln!("plan {:?} total {:?} {:?}", tp, t.elapsed(), out);
    }
}
