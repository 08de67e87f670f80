//! The text encoding (the reference's `StrEncoding`) used in server addresses, connection
//! URIs, the store log and the agent's command protocol.
