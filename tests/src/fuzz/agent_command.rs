//! The agent's TCP command protocol: what a client (or an agent, for a client of ours) sends
//! over the socket, in arbitrary chunks. Whatever the decoder accepts, our encoder writes back
//! in a form that decodes again and prints the same; every refusal has an answer to write;
//! and the chunking never changes what is decoded.

use simplex_agent::command::{
    transmission_bytes, AgentResponse, ClientCommand, Decoded, Decoder, WireCommand, WriteCommand,
};

/// The first byte chooses where the rest is cut into chunks; the rest is the stream, read by
/// both sides' decoders.
pub fn agent_command(data: &[u8]) {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    check_side::<ClientCommand>(seed, stream);
    check_side::<AgentResponse>(seed, stream);
}

fn check_side<C>(seed: u8, stream: &[u8])
where
    C: WireCommand + WriteCommand + PartialEq + std::fmt::Debug,
{
    let whole = Decoder::<C>::new().feed_all(stream);
    let step = usize::from(seed).max(1);
    let mut decoder = Decoder::<C>::new();
    let chunked: Vec<Decoded<C>> = stream
        .chunks(step)
        .flat_map(|chunk| decoder.feed_all(chunk))
        .collect();
    assert_eq!(chunked, whole, "chunks of {step} decode differently");
    for decoded in whole {
        match decoded {
            Ok(transmission) => {
                let bytes =
                    transmission_bytes(&transmission).expect("a decoded transmission must encode");
                let again = Decoder::<C>::new().feed_all(&bytes);
                let [Ok(again)] = again.as_slice() else {
                    panic!("an encoded transmission must decode as one: {again:?}");
                };
                assert_eq!(
                    transmission_bytes(again).expect("and encode again"),
                    bytes,
                    "the printed form must be stable"
                );
            }
            Err(rejected) => {
                transmission_bytes(&rejected.answer()).expect("a refusal has an answer");
            }
        }
    }
}
