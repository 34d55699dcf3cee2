//! `protos.Devops`: Deploy and Invoke hand a transaction to consensus and
//! return at once (the deployment spec / the txid); Query runs at once
//! against committed state. A non-validating peer does the same through a
//! validator (`Peer.ProcessTransaction`). Login and the EXP_* calls answer
//! FAILURE: this peer has no membership services.

use super::txbuild::{deploy_transaction, invocation_transaction};
use crate::config::ChaincodeMode;
use crate::consensus::SubmitError;
use crate::exec::{Executor, now_timestamp, response_error_text};
use crate::net::forward::Forwarder;
use crate::node::Submitter;
use fabrik_proto::protos::{
    ChaincodeDeploymentSpec, ChaincodeInvocationSpec, ChaincodeSpec, ExecuteWithBinding, Response,
    Secret, SigmaInput, Transaction, devops_server::Devops, response::StatusCode, transaction,
};
use std::sync::Arc;
use tonic::{Request, Status};

/// The Devops service.
#[derive(Debug, Clone)]
pub struct DevopsService {
    backend: Backend,
    mode: ChaincodeMode,
}

/// Where transactions go.
#[derive(Debug, Clone)]
enum Backend {
    /// A validator: its own consensus and executor.
    Local {
        executor: Arc<Executor>,
        submitter: Submitter,
    },
    /// A non-validating peer: a connected validator.
    Forward(Forwarder),
}

impl DevopsService {
    /// A validator's service, submitting through `submitter` and querying
    /// through `executor`.
    pub fn new(executor: Arc<Executor>, submitter: Submitter, mode: ChaincodeMode) -> Self {
        let backend = Backend::Local {
            executor,
            submitter,
        };
        Self { backend, mode }
    }

    /// A non-validating peer's service, sending every transaction to a
    /// validator; `mode` decides how deploys name chaincode.
    pub fn forwarding(forwarder: Forwarder, mode: ChaincodeMode) -> Self {
        Self {
            backend: Backend::Forward(forwarder),
            mode,
        }
    }

    /// Hands a deploy or invoke to consensus (or to a validator).
    async fn order(&self, tx: Transaction) -> Result<Response, Status> {
        match &self.backend {
            Backend::Local { submitter, .. } => {
                let txid = tx.txid.clone();
                submitter.submit(tx).await.map_err(|e| match e {
                    SubmitError::Busy(_) => Status::resource_exhausted(e.to_string()),
                    SubmitError::Stopping => Status::unavailable(e.to_string()),
                    SubmitError::TooLarge { .. } => Status::invalid_argument(e.to_string()),
                })?;
                Ok(Response {
                    status: StatusCode::Success as i32,
                    msg: txid.into_bytes(),
                })
            }
            Backend::Forward(f) => f.forward(tx).await.map_err(Status::unavailable),
        }
    }

    /// Runs a query here (or on a validator).
    async fn run_query(&self, tx: Transaction) -> Result<Response, Status> {
        match &self.backend {
            Backend::Local { executor, .. } => Ok(match executor.query(&tx).await {
                Ok(result) => Response {
                    status: StatusCode::Success as i32,
                    msg: result,
                },
                Err(e) => Response {
                    status: StatusCode::Failure as i32,
                    msg: response_error_text(&e).into_bytes(),
                },
            }),
            Backend::Forward(f) => f.forward(tx).await.map_err(Status::unavailable),
        }
    }
}

fn response(status: StatusCode, msg: impl Into<Vec<u8>>) -> tonic::Response<Response> {
    tonic::Response::new(Response {
        status: status as i32,
        msg: msg.into(),
    })
}

fn unsupported(what: &str) -> Result<tonic::Response<Response>, Status> {
    Ok(response(
        StatusCode::Failure,
        format!("{what} is not supported: this peer runs without membership services"),
    ))
}

#[tonic::async_trait]
impl Devops for DevopsService {
    async fn login(&self, _: Request<Secret>) -> Result<tonic::Response<Response>, Status> {
        unsupported("Login")
    }

    async fn build(
        &self,
        request: Request<ChaincodeSpec>,
    ) -> Result<tonic::Response<ChaincodeDeploymentSpec>, Status> {
        let (_, spec) = deploy_transaction(request.into_inner(), self.mode, now_timestamp())
            .map_err(Status::unknown)?;
        Ok(tonic::Response::new(spec))
    }

    async fn deploy(
        &self,
        request: Request<ChaincodeSpec>,
    ) -> Result<tonic::Response<ChaincodeDeploymentSpec>, Status> {
        let (tx, mut spec) = deploy_transaction(request.into_inner(), self.mode, now_timestamp())
            .map_err(Status::unknown)?;
        // The package travels in the transaction; the client only needs the
        // name, and echoing megabytes of binary back helps no one.
        spec.code_package.clear();
        tracing::info!(chaincode = %tx.txid, "deploy submitted");
        let r = self.order(tx).await?;
        if r.status != StatusCode::Success as i32 {
            return Err(Status::unknown(
                String::from_utf8_lossy(&r.msg).into_owned(),
            ));
        }
        Ok(tonic::Response::new(spec))
    }

    async fn invoke(
        &self,
        request: Request<ChaincodeInvocationSpec>,
    ) -> Result<tonic::Response<Response>, Status> {
        let spec = request.into_inner();
        let tx = invocation_transaction(&spec, transaction::Type::ChaincodeInvoke, now_timestamp())
            .map_err(Status::unknown)?;
        Ok(tonic::Response::new(self.order(tx).await?))
    }

    async fn query(
        &self,
        request: Request<ChaincodeInvocationSpec>,
    ) -> Result<tonic::Response<Response>, Status> {
        let spec = request.into_inner();
        let tx = invocation_transaction(&spec, transaction::Type::ChaincodeQuery, now_timestamp())
            .map_err(Status::unknown)?;
        Ok(tonic::Response::new(self.run_query(tx).await?))
    }

    async fn exp_get_application_t_cert(
        &self,
        _: Request<Secret>,
    ) -> Result<tonic::Response<Response>, Status> {
        unsupported("EXP_GetApplicationTCert")
    }

    async fn exp_prepare_for_tx(
        &self,
        _: Request<Secret>,
    ) -> Result<tonic::Response<Response>, Status> {
        unsupported("EXP_PrepareForTx")
    }

    async fn exp_produce_sigma(
        &self,
        _: Request<SigmaInput>,
    ) -> Result<tonic::Response<Response>, Status> {
        unsupported("EXP_ProduceSigma")
    }

    async fn exp_execute_with_binding(
        &self,
        _: Request<ExecuteWithBinding>,
    ) -> Result<tonic::Response<Response>, Status> {
        unsupported("EXP_ExecuteWithBinding")
    }
}
