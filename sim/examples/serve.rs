//! Runs a demo cluster until Ctrl-C, for trying it out by hand:
//! `cargo run -p wharf-sim --example serve -- /tmp/wharf.kubeconfig [DATA_DIR]`,
//! then `kubectl --kubeconfig /tmp/wharf.kubeconfig get nodes`.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let mut args = std::env::args().skip(1);
    let kubeconfig_out = Some(
        args.next()
            .unwrap_or_else(|| "/tmp/wharf.kubeconfig".into())
            .into(),
    );
    let data_dir = args.next().map(Into::into);
    let sim = sim::start(sim::SimConfig {
        kubeconfig_out,
        data_dir,
        ..Default::default()
    })
    .await?;
    println!("listening on https://{}", sim.addr());
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}
