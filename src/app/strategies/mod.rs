//! The strategy catalogue: every buggy variant and proposed fix from the seed documents.

pub mod checkout;
pub mod customer;
pub mod org;
pub mod orgs;
pub mod registry;
#[cfg(test)]
mod sequential_tests;
#[cfg(test)]
pub mod testkit;
pub mod webhook;
