//! The deployment model: kinds and attributes, configure to a fixpoint
//! (the resolver), and the plan the agent executes.

pub mod configure;
pub mod resolver;
