//! etcd's authentication and role-based access control: users, roles and
//! key-range permissions (replicated; [`AuthStore`]), tokens that name a
//! user ([`Tokens`]: etcd's `simple` and `jwt`), and the permission each
//! request needs ([`check`]). Nothing here knows gRPC or Raft: the service
//! layer resolves who is asking, the state machine applies changes and
//! checks writes, the API layer checks reads.

pub mod check;
mod error;
pub mod jwt;
pub mod password;
pub mod perms;
pub mod simple;
mod store;

use std::time::{Instant, SystemTime};

pub use error::AuthError;
pub use perms::Access;
pub use store::{AuthStore, AuthView, Authenticated, Persist, ROOT_ROLE, ROOT_USER, root_permission};

/// Who a request is from, as etcd's `AuthInfo`: a user and the auth
/// revision the request was authorised at. Revision 0 is nobody.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthInfo {
    pub user: String,
    pub revision: u64,
}

/// The token provider chosen by `--auth-token`.
#[derive(Debug)]
pub enum Tokens {
    /// `--auth-token ""`: no tokens at all (etcd's nop provider).
    None,
    Simple(simple::SimpleTokens),
    Jwt(Box<jwt::JwtTokens>),
}

impl Tokens {
    /// The user a token names, with the auth revision it stands for:
    /// simple tokens stand for the current one (`current`), JWTs for their
    /// `revision` claim.
    pub fn info(&self, token: &str, current: u64) -> Option<AuthInfo> {
        match self {
            Tokens::None => None,
            Tokens::Simple(s) => s.user(token, Instant::now()).map(|user| AuthInfo { user, revision: current }),
            Tokens::Jwt(j) => {
                j.verify(token, SystemTime::now()).map(|c| AuthInfo { user: c.username, revision: c.revision })
            }
        }
    }

    fn invalidate_user(&self, user: &str) {
        if let Tokens::Simple(s) = self {
            s.invalidate_user(user);
        }
    }

    fn clear(&self) {
        if let Tokens::Simple(s) = self {
            s.clear();
        }
    }
}

#[cfg(test)]
mod tests;
