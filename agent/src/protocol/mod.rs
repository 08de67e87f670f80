//! The agent's wire formats, byte for byte as simplexmq v3.2.0 writes them: queue addresses
//! ([`queue`]), connection request links ([`conn_request`]) and the messages agents exchange
//! inside the per-queue e2e box and the double ratchet ([`message`]). See `spec/agent.md`.

pub mod conn_request;
pub mod message;
pub mod queue;

pub use conn_request::{
    ConnReqData, ConnReqScheme, ConnectionMode, ConnectionRequest, AGENT_VERSIONS,
};
pub use message::{AMessage, AgentEnvelope, AgentMessage, EnvelopeError, MsgPrivHeader};
pub use queue::{SmpQueueAddress, SmpQueueInfo, SmpQueueUri, SMP_CLIENT_VERSIONS};
