//! The in-process target of `connect = "local"`.

use super::{Target, TargetError};
use std::sync::Arc;

use crate::agent::speculate::Speculations;
use crate::agent::{Agent, Event, HostOutcome};
use crate::plan::HostPlan;
use crate::sources::Modules;
use crate::system::remote::ThisMachine;
use crate::wasm::Runtime;

/// Deploys with the agent code in this process, sharing the controller's
/// runtime and modules.
pub struct Local<'a> {
    runtime: &'a Runtime,
    modules: &'a Modules,
    /// Roots the controller verified right after their configure.
    speculations: Option<Arc<Speculations>>,
}

impl<'a> Local<'a> {
    pub fn new(runtime: &'a Runtime, modules: &'a Modules, speculations: Option<Arc<Speculations>>) -> Self {
        Local { runtime, modules, speculations }
    }
}

impl Target for Local<'_> {
    fn deploy(
        &mut self,
        plan: &HostPlan,
        predict: bool,
        sink: &mut dyn FnMut(Event),
    ) -> Result<HostOutcome, TargetError> {
        // Every host of a local environment is this machine.
        let remote = Arc::new(ThisMachine);
        let mut agent = Agent::new(self.runtime, self.modules, remote, predict, sink);
        agent.speculated = self.speculations.clone();
        Ok(agent.deploy_host(plan))
    }
}
