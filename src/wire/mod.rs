//! What crosses the wire between an app and Stripe or Clerk: form encoding and the two webhook
//! signature schemes. A leaf: the app's clients and the fakes both use it, neither owns it.

pub mod form;
pub mod stripe_signature;
pub mod svix;
