mod support;
use ngx::*;
use support::*;
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scratch() {
    let node = Node::new(Mode::Dynamic);
    let routes: Vec<Route> = (0..5000).map(|i| Route { name: format!("r{i}"), host: format!("svc{i}.bench.test"), path: "/".into(),
        target: Target::Service { namespace: "ns".into(), name: format!("svc{i}"), port: 80 }, directives: vec![], tls: None }).collect();
    let st = node.state(routes, vec![]);
    let r = render(&st, &node.opts).unwrap();
    for (p, body) in &r.files { let f = std::path::Path::new("/tmp/big/conf").join(p); std::fs::create_dir_all(f.parent().unwrap()).unwrap(); std::fs::write(f, body).unwrap(); }
}
