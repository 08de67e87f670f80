//! The smol shell: sockets, timers, files and signals around the sans-IO machines of
//! `simplex-core`, with no protocol logic of its own.
//!
//! It arrives with the server program (see the project issues); until then this crate only
//! reserves its place in the workspace.
