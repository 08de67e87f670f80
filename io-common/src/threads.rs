//! Running several loops as one server, one per thread: what both shells' `run_workers` share.

use std::io;

use simplex_core::driver::{StopFlag, Workers};

/// Runs `run` once per service, each with that worker's place and its part of the loops'
/// setup: the first on the calling thread, the others on threads named `smp-worker-i`. One
/// loop failing (or a thread that cannot start) sets `stop`, so the others stop too; the
/// first error is returned once all have ended.
pub fn run_each<S, P, F>(
    services: &mut [S],
    parts: Vec<P>,
    stop: &StopFlag,
    run: F,
) -> io::Result<()>
where
    S: Send,
    P: Send,
    F: Fn(Workers, P, &mut S) -> io::Result<()> + Sync,
{
    let count = services.len();
    let run = &run;
    let run_one = move |index: usize, part: P, service: &mut S| {
        let result = run(Workers::new(index, count), part, service);
        if result.is_err() {
            stop.stop();
        }
        result
    };
    std::thread::scope(|scope| {
        let mut jobs = parts.into_iter().zip(services.iter_mut()).enumerate();
        let first = jobs.next();
        let mut threads = Vec::new();
        for (index, (part, service)) in jobs {
            let spawned = std::thread::Builder::new()
                .name(format!("smp-worker-{index}"))
                .spawn_scoped(scope, move || run_one(index, part, service));
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    // The loops already started stop with the others.
                    stop.stop();
                    return Err(e);
                }
            }
        }
        let mut result = match first {
            Some((index, (part, service))) => run_one(index, part, service),
            None => Ok(()),
        };
        for t in threads {
            let joined = t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("a worker loop panicked")));
            result = result.and(joined);
        }
        result
    })
}
