//! A host checks the place among the workers its shell gives it.

#![cfg(feature = "host")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod world;

use simplex_core::driver::{Service, ShellInput, SocketAction, Workers};
use simplex_server::driver::DriverConfig;
use simplex_server::files::DataFiles;
use simplex_server::host::{Host, HostConfig, MisplacedWorker};
use simplex_server::ServerConfig;
use world::{clock, identity};

fn hosts(shards: u16) -> Vec<Host> {
    let config = HostConfig {
        server: ServerConfig::default(),
        driver: DriverConfig::default(),
        files: DataFiles::default(),
        shards,
        listeners: Vec::new(),
        trace: None,
    };
    Host::start(config, identity(), clock(0), [3; 32])
        .unwrap()
        .0
}

#[test]
fn a_host_placed_elsewhere_than_started_serves_nothing() {
    let mut hosts = hosts(2);
    assert_eq!(hosts[1].workers(), Workers::new(1, 2));
    assert_eq!(hosts[1].check_workers(Workers::new(1, 2)), Ok(()));
    assert_eq!(
        hosts[1].check_workers(Workers::single()),
        Err(MisplacedWorker {
            shell: Workers::single(),
            host: Workers::new(1, 2),
        })
    );

    let host = &mut hosts[0];
    host.set_workers(Workers::new(1, 2));
    assert!(host.misplaced().is_some());
    let mut actions = Vec::new();
    host.handle(clock(0), ShellInput::Accepted(2, 0), &mut actions);
    assert!(
        matches!(actions[..], [SocketAction::Close(2)]),
        "{actions:?}"
    );
    assert_eq!(host.connection_count(), 0);

    host.set_workers(Workers::new(0, 2));
    assert_eq!(host.misplaced(), None);
    actions.clear();
    host.handle(clock(0), ShellInput::Accepted(2, 0), &mut actions);
    assert_eq!(host.connection_count(), 1);
    assert!(!actions.iter().any(|a| matches!(a, SocketAction::Close(_))));

    // A misplaced host still stops when told to.
    let alone = &mut hosts[1];
    alone.set_workers(Workers::single());
    alone.handle(clock(1), ShellInput::Shutdown, &mut Vec::new());
    assert!(alone.is_stopped());
}
