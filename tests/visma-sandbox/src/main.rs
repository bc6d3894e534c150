//! `visma-sandbox` binary: serves the simulator until killed.
//!
//! Options: `--addr 127.0.0.1:4010`, `--auto-approve`, `--client-id ID`, `--client-secret S`,
//! `--redirect-uri URI` (repeatable; none = any), `--extra-accounts N`.

use std::net::SocketAddr;

use visma_sandbox::{ClientRegistration, Sandbox, SandboxConfig, Seed};

fn usage() -> ! {
    eprintln!(
        "usage: visma-sandbox [--addr 127.0.0.1:4010] [--auto-approve] [--client-id ID] \
         [--client-secret SECRET] [--redirect-uri URI]... [--extra-accounts N]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut addr: SocketAddr = "127.0.0.1:4010".parse()?;
    let mut config = SandboxConfig::default();
    let mut client = ClientRegistration::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--addr" => addr = value().parse()?,
            "--auto-approve" => config.auto_approve = true,
            "--client-id" => client.client_id = value(),
            "--client-secret" => client.client_secret = value(),
            "--redirect-uri" => client.redirect_uris.push(value()),
            "--extra-accounts" => {
                config.seed = Seed {
                    extra_accounts: value().parse()?,
                }
            }
            "-h" | "--help" => usage(),
            other => {
                eprintln!("unknown argument: {other}");
                usage()
            }
        }
    }
    config.clients = vec![client.clone()];
    let sandbox = Sandbox::start_on(addr, config).await?;
    println!("visma-sandbox listening on {}", sandbox.url());
    println!(
        "  identity: {0}/connect/authorize  {0}/connect/token   api: {0}/v2/...   admin: {0}/_sandbox/...",
        sandbox.url()
    );
    println!("  client: {} / {}", client.client_id, client.client_secret);
    for c in sandbox.companies() {
        println!(
            "  company: {} {} ({})",
            c.id, c.name, c.corporate_identity_number
        );
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}
