//! v3lockpb.Lock: distributed locks held by a lease (etcd's `v3lock`), on the
//! mutex recipe.

use capstan_proto::v3lockpb::lock_server::Lock;
use capstan_proto::v3lockpb::{LockRequest, LockResponse, UnlockRequest, UnlockResponse};
use tonic::{Request, Response, Status};

use super::recipes::Recipes;

pub struct LockService {
    recipes: Recipes,
}

impl LockService {
    pub fn new(recipes: Recipes) -> Self {
        Self { recipes }
    }
}

#[tonic::async_trait]
impl Lock for LockService {
    /// Blocks until the lease holds the lock on `name`; the returned key is
    /// the lock's ownership (deleting it, or the lease ending, releases it).
    async fn lock(&self, request: Request<LockRequest>) -> Result<Response<LockResponse>, Status> {
        let recipes = self.recipes.for_request(&request).await?;
        let req = request.into_inner();
        let lease = recipes.session_lease(req.lease).await?;
        let (key, header) = recipes.lock(&req.name, lease).await?;
        Ok(Response::new(LockResponse { header, key }))
    }

    async fn unlock(&self, request: Request<UnlockRequest>) -> Result<Response<UnlockResponse>, Status> {
        let recipes = self.recipes.for_request(&request).await?;
        let header = recipes.delete(&request.into_inner().key).await?;
        Ok(Response::new(UnlockResponse { header }))
    }
}
