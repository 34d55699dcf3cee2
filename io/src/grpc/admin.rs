//! `protos.Admin`: GetStatus and StartServer answer STARTED; StopServer
//! answers STOPPED, removes the pid file and stops the node (v0.6 exits the
//! process; we shut down cleanly instead, which the CLI sees the same way).

use fabrik_proto::protos::{ServerStatus, admin_server::Admin, server_status::StatusCode};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::Notify;
use tonic::{Request, Response, Status};

/// The Admin service.
#[derive(Debug, Clone)]
pub struct AdminService {
    stop: Arc<Notify>,
    pid_file: PathBuf,
}

impl AdminService {
    /// A service that signals `stop` on StopServer.
    pub fn new(stop: Arc<Notify>, pid_file: PathBuf) -> Self {
        Self { stop, pid_file }
    }
}

fn status(code: StatusCode) -> Response<ServerStatus> {
    Response::new(ServerStatus {
        status: code as i32,
    })
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn get_status(&self, _: Request<()>) -> Result<Response<ServerStatus>, Status> {
        Ok(status(StatusCode::Started))
    }

    async fn start_server(&self, _: Request<()>) -> Result<Response<ServerStatus>, Status> {
        Ok(status(StatusCode::Started))
    }

    async fn stop_server(&self, _: Request<()>) -> Result<Response<ServerStatus>, Status> {
        tracing::info!("stop requested through Admin.StopServer");
        if let Err(e) = std::fs::remove_file(&self.pid_file) {
            tracing::debug!("removing {}: {e}", self.pid_file.display());
        }
        // Stop after the reply has gone out, as v0.6 defers its exit.
        let stop = Arc::clone(&self.stop);
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            stop.notify_waiters();
            stop.notify_one();
        });
        Ok(status(StatusCode::Stopped))
    }
}
