//! v3electionpb.Election: leader election on a lease (etcd's `v3election`),
//! on the election recipe.

use std::pin::Pin;

use capstan_proto::v3electionpb::election_server::Election;
use capstan_proto::v3electionpb::{
    CampaignRequest, CampaignResponse, LeaderKey, LeaderRequest, LeaderResponse, ProclaimRequest, ProclaimResponse,
    ResignRequest, ResignResponse,
};
use futures::Stream;
use tonic::{Request, Response, Status};

use super::recipes::Recipes;

/// etcd's `ErrMissingLeaderKey` (returned as is, so code Unknown).
const MISSING_LEADER_KEY: &str = "\"leader\" field must be provided";

pub struct ElectionService {
    recipes: Recipes,
}

impl ElectionService {
    pub fn new(recipes: Recipes) -> Self {
        Self { recipes }
    }
}

fn leader_key(leader: Option<LeaderKey>) -> Result<LeaderKey, Status> {
    leader.ok_or_else(|| Status::unknown(MISSING_LEADER_KEY))
}

type ObserveStream = Pin<Box<dyn Stream<Item = Result<LeaderResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Election for ElectionService {
    /// Blocks until the lease leads the election `name`.
    async fn campaign(&self, request: Request<CampaignRequest>) -> Result<Response<CampaignResponse>, Status> {
        let recipes = self.recipes.for_request(&request).await?;
        let req = request.into_inner();
        let lease = recipes.session_lease(req.lease).await?;
        let (key, rev, header) = recipes.campaign(&req.name, lease, &req.value).await?;
        Ok(Response::new(CampaignResponse { header, leader: Some(LeaderKey { name: req.name, key, rev, lease }) }))
    }

    async fn proclaim(&self, request: Request<ProclaimRequest>) -> Result<Response<ProclaimResponse>, Status> {
        let recipes = self.recipes.for_request(&request).await?;
        let req = request.into_inner();
        let leader = leader_key(req.leader)?;
        let header = recipes.proclaim(&leader.key, leader.rev, leader.lease, &req.value).await?;
        Ok(Response::new(ProclaimResponse { header }))
    }

    async fn leader(&self, request: Request<LeaderRequest>) -> Result<Response<LeaderResponse>, Status> {
        let recipes = self.recipes.for_request(&request).await?;
        let (kv, header) = recipes.leader(&request.into_inner().name).await?;
        Ok(Response::new(LeaderResponse { header, kv: Some(kv) }))
    }

    type ObserveStream = ObserveStream;

    async fn observe(&self, request: Request<LeaderRequest>) -> Result<Response<Self::ObserveStream>, Status> {
        let recipes = self.recipes.for_request(&request).await?;
        let name = request.into_inner().name;
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let recipes = recipes.clone();
        let (err_tx, mut err_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            if let Err(e) = recipes.observe(&name, tx).await {
                let _ = err_tx.send(e);
            }
        });
        let out = async_stream::stream! {
            while let Some((kv, header)) = rx.recv().await {
                yield Ok(LeaderResponse { header, kv: Some(kv) });
            }
            if let Ok(e) = err_rx.try_recv() {
                yield Err(e);
            }
        };
        Ok(Response::new(Box::pin(out)))
    }

    async fn resign(&self, request: Request<ResignRequest>) -> Result<Response<ResignResponse>, Status> {
        let recipes = self.recipes.for_request(&request).await?;
        let leader = leader_key(request.into_inner().leader)?;
        let header = recipes.resign(&leader.key, leader.rev).await?;
        Ok(Response::new(ResignResponse { header }))
    }
}
