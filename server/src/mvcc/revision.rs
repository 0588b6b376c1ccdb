/// A point in the history of the key space: `main` is the revision of a write
/// request (one per request, shared by all operations of a txn), `sub` orders
/// the changes inside that request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Revision {
    pub main: i64,
    pub sub: i64,
}

impl Revision {
    pub const fn new(main: i64, sub: i64) -> Self {
        Self { main, sub }
    }
}
