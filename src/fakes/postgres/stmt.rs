//! The SQL vocabulary the model executes: [`crate::sql`], where the app and every runtime
//! share it (re-exported here, where it was first).

pub use crate::sql::*;
