//! What each request expects in answer, as a value: the client machine keeps an [`Expect`] per
//! request in flight and checks the server's answer against it (the reference's per-command
//! result checks), and a mismatch is reported with typed kinds, not strings.

use crate::protocol::{BrokerMsg, Command};

use super::machine::{Reply, RequestError};

/// The answer a request waits for, fixed when it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expect {
    /// `NEW`: the queue's ids (`IDS`).
    QueueIds,
    /// `NKEY`: the notifier's id (`NID`).
    NotifierId,
    /// `PING`: `PONG`.
    Pong,
    /// `SUB` and `ACK`: `OK`, or the next message (`MSG`), which is a delivery.
    Delivery,
    /// `GET`: the next message (`MSG`) as the answer, or `OK` when there is none.
    Message,
    /// Every other command (`KEY`, `NDEL`, `OFF`, `DEL`, `SEND`, `NSUB`): `OK`.
    Ok,
}

impl Expect {
    /// What `command` expects.
    pub fn of(command: &Command) -> Self {
        match command {
            Command::New { .. } => Self::QueueIds,
            Command::NKey { .. } => Self::NotifierId,
            Command::Ping => Self::Pong,
            Command::Sub | Command::Ack(_) => Self::Delivery,
            Command::Get => Self::Message,
            Command::Key(_)
            | Command::NDel
            | Command::Off
            | Command::Del
            | Command::Send { .. }
            | Command::NSub => Self::Ok,
        }
    }

    /// Checks an answer: the typed reply, the server's `ERR`, or [`Unexpected`].
    pub fn check(self, msg: BrokerMsg) -> Result<Reply, RequestError> {
        match (self, msg) {
            (_, BrokerMsg::Err(e)) => Err(RequestError::Protocol(e)),
            (
                Self::QueueIds,
                BrokerMsg::Ids {
                    recipient_id,
                    sender_id,
                    server_dh_key,
                },
            ) => Ok(Reply::Ids {
                recipient_id,
                sender_id,
                server_dh_key,
            }),
            (
                Self::NotifierId,
                BrokerMsg::Nid {
                    notifier_id,
                    server_dh_key,
                },
            ) => Ok(Reply::Nid {
                notifier_id,
                server_dh_key,
            }),
            (Self::Pong, BrokerMsg::Pong) => Ok(Reply::Pong),
            (Self::Delivery | Self::Message, BrokerMsg::Msg(m)) => Ok(Reply::Message(m)),
            (Self::Delivery | Self::Message | Self::Ok, BrokerMsg::Ok) => Ok(Reply::Ok),
            (expected, other) => Err(RequestError::Unexpected(Unexpected::Reply {
                expected,
                got: ReplyKind::of(&other),
            })),
        }
    }
}

/// The kind of a server message (its wire tag, as a value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyKind {
    /// `IDS`.
    Ids,
    /// `MSG`.
    Msg,
    /// `NID`.
    Nid,
    /// `NMSG`.
    NMsg,
    /// `END`.
    End,
    /// `OK`.
    Ok,
    /// `ERR`.
    Err,
    /// `PONG`.
    Pong,
}

impl ReplyKind {
    /// The kind of a server message.
    pub fn of(msg: &BrokerMsg) -> Self {
        match msg {
            BrokerMsg::Ids { .. } => Self::Ids,
            BrokerMsg::Msg(_) => Self::Msg,
            BrokerMsg::Nid { .. } => Self::Nid,
            BrokerMsg::NMsg { .. } => Self::NMsg,
            BrokerMsg::End => Self::End,
            BrokerMsg::Ok => Self::Ok,
            BrokerMsg::Err(_) => Self::Err,
            BrokerMsg::Pong => Self::Pong,
        }
    }

    /// The kind of a typed reply.
    pub fn of_reply(reply: &Reply) -> Self {
        match reply {
            Reply::Ids { .. } => Self::Ids,
            Reply::Nid { .. } => Self::Nid,
            Reply::Ok => Self::Ok,
            Reply::Pong => Self::Pong,
            Reply::Message(_) => Self::Msg,
        }
    }
}

/// How an answer did not fit its request (the reference's `PCEUnexpectedResponse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unexpected {
    /// The answer carried another queue id than the request.
    OtherQueue,
    /// The answer is of a kind the request does not take.
    Reply {
        /// What the request waited for.
        expected: Expect,
        /// What came.
        got: ReplyKind,
    },
}

impl std::fmt::Display for Unexpected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OtherQueue => f.write_str("response for another queue"),
            Self::Reply { expected, got } => write!(f, "{got:?} in answer to {expected:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorType;

    #[test]
    fn each_command_takes_its_own_answer() {
        assert_eq!(
            Expect::of(&Command::Ping).check(BrokerMsg::Pong),
            Ok(Reply::Pong)
        );
        assert_eq!(
            Expect::of(&Command::Del).check(BrokerMsg::Ok),
            Ok(Reply::Ok)
        );
        assert_eq!(
            Expect::of(&Command::Get).check(BrokerMsg::Ok),
            Ok(Reply::Ok)
        );
        assert_eq!(
            Expect::of(&Command::Ping).check(BrokerMsg::Ok),
            Err(RequestError::Unexpected(Unexpected::Reply {
                expected: Expect::Pong,
                got: ReplyKind::Ok,
            }))
        );
        assert_eq!(
            Expect::of(&Command::Off).check(BrokerMsg::End),
            Err(RequestError::Unexpected(Unexpected::Reply {
                expected: Expect::Ok,
                got: ReplyKind::End,
            }))
        );
        assert_eq!(
            Expect::of(&Command::Sub).check(BrokerMsg::Err(ErrorType::Auth)),
            Err(RequestError::Protocol(ErrorType::Auth))
        );
    }
}
