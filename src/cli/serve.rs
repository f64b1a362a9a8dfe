use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Args;

use crate::app::App;
use crate::config::Config;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides `listen` in the configuration); port 0 picks a free one.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Serve HTTP only; run `creditline worker` processes for the background jobs.
    #[arg(long)]
    pub no_workers: bool,
}

pub async fn run(mut config: Config, args: ServeArgs) -> anyhow::Result<ExitCode> {
    if let Some(addr) = args.listen {
        config.listen = addr;
    }
    let app = App::build(config, true).await?;
    let listener = tokio::net::TcpListener::bind(app.config.listen).await?;
    let addr = listener.local_addr()?;
    // Listening for SIGHUP before saying we are up: until then its default action ends the
    // process, and a reload sent right after start-up must not.
    reload_on_sighup(app.clone())?;
    crate::services::rule_policy::watch(app.clone());
    tracing::info!(%addr, database = app.backend(), "creditline serving");
    // One plain line on stdout so scripts and tests can find the port that was picked.
    println!("listening on http://{addr}");
    // One signal stops both halves: HTTP finishes its requests, the workers their jobs.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let workers = (!args.no_workers).then(|| tokio::spawn(crate::jobs::run(app.clone(), stopped(stop_rx.clone()))));
    crate::http::serve(app, listener, stopped(stop_rx)).await?;
    if let Some(w) = workers {
        w.await??;
    }
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C or SIGTERM: stop accepting, finish requests in flight, exit.
pub(super) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// SIGHUP recompiles the rules without a restart (the handler is in place on return).
fn reload_on_sighup(app: std::sync::Arc<App>) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let app = app.clone();
                // Compiling is CPU work: keep it off the async workers.
                let _ = tokio::task::spawn_blocking(move || app.reload_rules()).await;
            }
        });
    }
    #[cfg(not(unix))]
    let _ = app;
    Ok(())
}
