//! What the two I/O shells (`simplex-io-mio`, `simplex-io-smol`) share, kept apart so neither
//! shell depends on the other: the blocking dial each runs off its loop ([`dial`]), running
//! one loop per worker thread ([`threads`]), and a socket's pending output held as the
//! buffers the service handed over ([`unsent`]). Nothing here knows of SMP or of a poll loop.

pub mod dial;
pub mod threads;
pub mod unsent;
