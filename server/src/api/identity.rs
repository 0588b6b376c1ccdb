//! Who a gRPC request is from: its credentials (a token in the `token`
//! metadata, or `authorization` from the gateway; the TLS client
//! certificate's common name) resolved by the service to a user.

use tonic::Status;

use crate::auth::AuthInfo;
use crate::service::Server;
use crate::service::auth::Credentials;
use crate::tls::listener::ClientCommonName;

/// gRPC metadata keys of a token (etcd `rpctypes.TokenFieldNameGRPC`,
/// `TokenFieldNameSwagger`).
const TOKEN_KEYS: [&str; 2] = ["token", "authorization"];

pub fn credentials<T>(request: &tonic::Request<T>) -> Credentials {
    let md = request.metadata();
    let token = TOKEN_KEYS.iter().find_map(|k| md.get(*k)).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let common_name =
        request.extensions().get::<axum::extract::ConnectInfo<ClientCommonName>>().and_then(|info| info.0.0.clone());
    Credentials { token, common_name }
}

/// The user `request` is from (none while auth is off or when it names
/// nobody); an invalid token is refused with etcd's error.
pub async fn caller<T>(server: &Server, request: &tonic::Request<T>) -> Result<Option<AuthInfo>, Status> {
    Ok(server.caller(&credentials(request)).await?)
}
