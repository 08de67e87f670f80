//! The JSON forms of the agent's types, exactly as the v3.2.0 reference's `ToJSON` instances
//! write them (simplex-chat reads them from its core library).
//!
//! - Sum types use the reference's `sumTypeJSON` options, i.e. aeson's tagged objects: the
//!   constructor name (maybe modified) under `"type"`, the record fields beside it, so a unit
//!   constructor is `{"type":"SIMPLEX"}` and `CONN SIMPLEX` is
//!   `{"type":"CONN","connErr":{"type":"SIMPLEX"}}`. Error constructors keep their names;
//!   `MsgIntegrity` and `MsgErrorType` lower the first letter (`msgOk`, `msgSkipped`);
//!   transport errors drop their `TE` prefix and lower the first letter (`badBlock`).
//! - `ConnectionStats` is a plain record: `{"rcvServers":[...],"sndServers":[...]}`.
//! - Servers, connection requests and notification modes are JSON strings of their text form.
//!
//! The reference's iOS build (`swiftJSON`) encodes sum types as single-field objects instead;
//! that form is not implemented here. Reading accepts what writing produces, and ignores
//! unknown fields as aeson does; the reference itself reads only `MsgIntegrity`,
//! `MsgErrorType` and connection requests.

use serde::de::{Deserializer, Error as _};
use serde::ser::{Error as _, SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use simplex_core::address::ServerAddress;
use simplex_core::encoding::string::{StrDecode, StrEncode};
use simplex_core::protocol::{CommandError, ErrorType};

use crate::error::{
    AgentErrorType, BrokerErrorType, CommandErrorType, ConnectionErrorType, HandshakeError,
    SmpAgentError, TransportError,
};
use crate::meta::{AgentMsgId, ConnectionStats, MsgErrorType, MsgIntegrity, NotificationsMode};
use crate::protocol::ConnectionRequest;

/// Serializes a value as the JSON string of its text form.
struct AsText<'a, T>(&'a T);

impl<T: StrEncode> Serialize for AsText<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = String::from_utf8(self.0.to_str_bytes())
            .map_err(|_| S::Error::custom("text form is not UTF-8"))?;
        s.serialize_str(&text)
    }
}

/// Deserializes a value from a JSON string of its text form.
struct FromText<T>(T);

impl<'de, T: StrDecode> Deserialize<'de> for FromText<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        T::str_decode(text.as_bytes())
            .map(FromText)
            .map_err(|e| D::Error::custom(format!("bad text form: {e}")))
    }
}

/// A tagged object with only its tag: how aeson writes a unit constructor.
#[derive(Deserialize)]
struct TagOnly {
    #[serde(rename = "type")]
    tag: String,
}

/// JSON for the enums of unit variants in [`crate::error`]: `{"type":"NAME"}`.
macro_rules! unit_tagged_json {
    ($($t:ty),+) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut object = s.serialize_struct(stringify!($t), 1)?;
                object.serialize_field("type", self.name())?;
                object.end()
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let TagOnly { tag } = TagOnly::deserialize(d)?;
                <$t>::from_name(&tag)
                    .ok_or_else(|| D::Error::custom(format!("unknown {}: {tag}", stringify!($t))))
            }
        }
    )+};
}

unit_tagged_json!(
    CommandErrorType,
    ConnectionErrorType,
    HandshakeError,
    SmpAgentError
);

/// The shape of the reference's SMP `CommandError`.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
enum SmpCommandJson {
    Unknown,
    Syntax,
    Prohibited,
    NoAuth,
    HasAuth,
    NoEntity,
}

/// The shape of the reference's SMP `ErrorType`.
#[derive(Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase"
)]
enum SmpErrorJson {
    Block,
    Session,
    Cmd {
        cmd_err: SmpCommandJson,
    },
    Auth,
    Quota,
    NoMsg,
    LargeMsg,
    Internal,
    #[serde(rename = "DUPLICATE_")]
    Duplicate,
}

impl From<ErrorType> for SmpErrorJson {
    fn from(e: ErrorType) -> Self {
        match e {
            ErrorType::Block => Self::Block,
            ErrorType::Session => Self::Session,
            ErrorType::Cmd(c) => Self::Cmd {
                cmd_err: match c {
                    CommandError::Unknown => SmpCommandJson::Unknown,
                    CommandError::Syntax => SmpCommandJson::Syntax,
                    CommandError::Prohibited => SmpCommandJson::Prohibited,
                    CommandError::NoAuth => SmpCommandJson::NoAuth,
                    CommandError::HasAuth => SmpCommandJson::HasAuth,
                    CommandError::NoEntity => SmpCommandJson::NoEntity,
                },
            },
            ErrorType::Auth => Self::Auth,
            ErrorType::Quota => Self::Quota,
            ErrorType::NoMsg => Self::NoMsg,
            ErrorType::LargeMsg => Self::LargeMsg,
            ErrorType::Internal => Self::Internal,
            ErrorType::Duplicate => Self::Duplicate,
        }
    }
}

impl From<SmpErrorJson> for ErrorType {
    fn from(e: SmpErrorJson) -> Self {
        match e {
            SmpErrorJson::Block => Self::Block,
            SmpErrorJson::Session => Self::Session,
            SmpErrorJson::Cmd { cmd_err } => Self::Cmd(match cmd_err {
                SmpCommandJson::Unknown => CommandError::Unknown,
                SmpCommandJson::Syntax => CommandError::Syntax,
                SmpCommandJson::Prohibited => CommandError::Prohibited,
                SmpCommandJson::NoAuth => CommandError::NoAuth,
                SmpCommandJson::HasAuth => CommandError::HasAuth,
                SmpCommandJson::NoEntity => CommandError::NoEntity,
            }),
            SmpErrorJson::Auth => Self::Auth,
            SmpErrorJson::Quota => Self::Quota,
            SmpErrorJson::NoMsg => Self::NoMsg,
            SmpErrorJson::LargeMsg => Self::LargeMsg,
            SmpErrorJson::Internal => Self::Internal,
            SmpErrorJson::Duplicate => Self::Duplicate,
        }
    }
}

/// The shape of the reference's `TransportError` (constructors without their `TE`).
#[derive(Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
enum TransportJson {
    BadBlock,
    LargeMsg,
    BadSession,
    Handshake { handshake_err: HandshakeError },
}

/// The shape of the reference's `BrokerErrorType`.
#[derive(Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase"
)]
enum BrokerJson {
    Response { smp_err: SmpErrorJson },
    Unexpected,
    Network,
    Host,
    Transport { transport_err: TransportJson },
    Timeout,
}

/// The shape of the reference's `AgentErrorType`.
#[derive(Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase"
)]
enum AgentErrorJson {
    Cmd { cmd_err: CommandErrorType },
    Conn { conn_err: ConnectionErrorType },
    Smp { smp_err: SmpErrorJson },
    Ntf { ntf_err: SmpErrorJson },
    Broker { broker_err: BrokerJson },
    Agent { agent_err: SmpAgentError },
    Internal { internal_err: String },
}

impl From<TransportError> for TransportJson {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::BadBlock => Self::BadBlock,
            TransportError::LargeMsg => Self::LargeMsg,
            TransportError::BadSession => Self::BadSession,
            TransportError::Handshake(handshake_err) => Self::Handshake { handshake_err },
        }
    }
}

impl From<TransportJson> for TransportError {
    fn from(e: TransportJson) -> Self {
        match e {
            TransportJson::BadBlock => Self::BadBlock,
            TransportJson::LargeMsg => Self::LargeMsg,
            TransportJson::BadSession => Self::BadSession,
            TransportJson::Handshake { handshake_err } => Self::Handshake(handshake_err),
        }
    }
}

impl From<BrokerErrorType> for BrokerJson {
    fn from(e: BrokerErrorType) -> Self {
        match e {
            BrokerErrorType::Response(e) => Self::Response { smp_err: e.into() },
            BrokerErrorType::Unexpected => Self::Unexpected,
            BrokerErrorType::Network => Self::Network,
            BrokerErrorType::Host => Self::Host,
            BrokerErrorType::Transport(e) => Self::Transport {
                transport_err: e.into(),
            },
            BrokerErrorType::Timeout => Self::Timeout,
        }
    }
}

impl From<BrokerJson> for BrokerErrorType {
    fn from(e: BrokerJson) -> Self {
        match e {
            BrokerJson::Response { smp_err } => Self::Response(smp_err.into()),
            BrokerJson::Unexpected => Self::Unexpected,
            BrokerJson::Network => Self::Network,
            BrokerJson::Host => Self::Host,
            BrokerJson::Transport { transport_err } => Self::Transport(transport_err.into()),
            BrokerJson::Timeout => Self::Timeout,
        }
    }
}

impl From<AgentErrorType> for AgentErrorJson {
    fn from(e: AgentErrorType) -> Self {
        match e {
            AgentErrorType::Cmd(cmd_err) => Self::Cmd { cmd_err },
            AgentErrorType::Conn(conn_err) => Self::Conn { conn_err },
            AgentErrorType::Smp(e) => Self::Smp { smp_err: e.into() },
            AgentErrorType::Ntf(e) => Self::Ntf { ntf_err: e.into() },
            AgentErrorType::Broker(e) => Self::Broker {
                broker_err: e.into(),
            },
            AgentErrorType::Agent(agent_err) => Self::Agent { agent_err },
            AgentErrorType::Internal(internal_err) => Self::Internal { internal_err },
        }
    }
}

impl From<AgentErrorJson> for AgentErrorType {
    fn from(e: AgentErrorJson) -> Self {
        match e {
            AgentErrorJson::Cmd { cmd_err } => Self::Cmd(cmd_err),
            AgentErrorJson::Conn { conn_err } => Self::Conn(conn_err),
            AgentErrorJson::Smp { smp_err } => Self::Smp(smp_err.into()),
            AgentErrorJson::Ntf { ntf_err } => Self::Ntf(ntf_err.into()),
            AgentErrorJson::Broker { broker_err } => Self::Broker(broker_err.into()),
            AgentErrorJson::Agent { agent_err } => Self::Agent(agent_err),
            AgentErrorJson::Internal { internal_err } => Self::Internal(internal_err),
        }
    }
}

/// Implements the JSON of a public type through its private shape type (both `From` ways).
macro_rules! json_via_shape {
    ($($t:ty => $shape:ty),+) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                <$shape>::from(self.clone()).serialize(s)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <$shape>::deserialize(d).map(Self::from)
            }
        }
    )+};
}

json_via_shape!(
    AgentErrorType => AgentErrorJson,
    BrokerErrorType => BrokerJson,
    TransportError => TransportJson,
    MsgIntegrity => IntegrityJson,
    MsgErrorType => MsgErrorJson
);

/// The shape of the reference's `MsgErrorType`.
// The variant names are the reference's constructors, whose names are the JSON tags.
#[allow(clippy::enum_variant_names)]
#[derive(Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
enum MsgErrorJson {
    MsgSkipped {
        from_msg_id: AgentMsgId,
        to_msg_id: AgentMsgId,
    },
    MsgBadId {
        msg_id: AgentMsgId,
    },
    MsgBadHash,
    MsgDuplicate,
}

/// The shape of the reference's `MsgIntegrity`.
#[derive(Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
enum IntegrityJson {
    MsgOk,
    MsgError { error_info: MsgErrorJson },
}

impl From<MsgErrorType> for MsgErrorJson {
    fn from(e: MsgErrorType) -> Self {
        match e {
            MsgErrorType::Skipped { from, to } => Self::MsgSkipped {
                from_msg_id: from,
                to_msg_id: to,
            },
            MsgErrorType::BadId(msg_id) => Self::MsgBadId { msg_id },
            MsgErrorType::BadHash => Self::MsgBadHash,
            MsgErrorType::Duplicate => Self::MsgDuplicate,
        }
    }
}

impl From<MsgErrorJson> for MsgErrorType {
    fn from(e: MsgErrorJson) -> Self {
        match e {
            MsgErrorJson::MsgSkipped {
                from_msg_id,
                to_msg_id,
            } => Self::Skipped {
                from: from_msg_id,
                to: to_msg_id,
            },
            MsgErrorJson::MsgBadId { msg_id } => Self::BadId(msg_id),
            MsgErrorJson::MsgBadHash => Self::BadHash,
            MsgErrorJson::MsgDuplicate => Self::Duplicate,
        }
    }
}

impl From<MsgIntegrity> for IntegrityJson {
    fn from(i: MsgIntegrity) -> Self {
        match i {
            MsgIntegrity::Ok => Self::MsgOk,
            MsgIntegrity::Error(e) => Self::MsgError {
                error_info: e.into(),
            },
        }
    }
}

impl From<IntegrityJson> for MsgIntegrity {
    fn from(i: IntegrityJson) -> Self {
        match i {
            IntegrityJson::MsgOk => Self::Ok,
            IntegrityJson::MsgError { error_info } => Self::Error(error_info.into()),
        }
    }
}

fn servers_as_text(servers: &[ServerAddress]) -> Vec<AsText<'_, ServerAddress>> {
    servers.iter().map(AsText).collect()
}

/// `{"rcvServers":[SERVER,...],"sndServers":[...]}`, each server the string of its text form.
impl Serialize for ConnectionStats {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut object = s.serialize_struct("ConnectionStats", 2)?;
        object.serialize_field("rcvServers", &servers_as_text(&self.rcv_servers))?;
        object.serialize_field("sndServers", &servers_as_text(&self.snd_servers))?;
        object.end()
    }
}

impl<'de> Deserialize<'de> for ConnectionStats {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Shape {
            rcv_servers: Vec<FromText<ServerAddress>>,
            snd_servers: Vec<FromText<ServerAddress>>,
        }
        let Shape {
            rcv_servers,
            snd_servers,
        } = Shape::deserialize(d)?;
        Ok(Self {
            rcv_servers: rcv_servers.into_iter().map(|FromText(s)| s).collect(),
            snd_servers: snd_servers.into_iter().map(|FromText(s)| s).collect(),
        })
    }
}

/// JSON strings of the text form.
macro_rules! text_json {
    ($($t:ty),+) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                AsText(self).serialize(s)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                FromText::<$t>::deserialize(d).map(|FromText(v)| v)
            }
        }
    )+};
}

text_json!(ConnectionRequest, NotificationsMode);
