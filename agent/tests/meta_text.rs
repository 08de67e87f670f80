//! The text forms of message metadata and connection facts in the agent's TCP protocol. The
//! expected strings follow the reference's `serializeCommand` and parsers (Agent/Protocol.hs,
//! v3.2.0): `serializeMsgMeta` and `msgMetaP` for `MSG`, `ConnectionStats`'s `StrEncoding` for
//! `STAT`, `NotificationsMode`'s `StrEncoding`, `serializeQueueStatus` and `ConnectionMode`'s
//! `StrEncoding`.

// Helpers outside #[test] functions fail loudly on malformed values, as tests should.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use simplex_agent::meta::{
    ConnectionStats, MsgErrorType, MsgIntegrity, MsgMeta, NotificationsMode, QueueStatus,
};
use simplex_agent::protocol::ConnectionMode;
use simplex_core::address::ServerAddress;
use simplex_core::encoding::string::{StrDecode, StrEncode};
use simplex_core::encoding::UtcTime;

fn text<T: StrEncode>(value: &T) -> String {
    String::from_utf8(value.to_str_bytes()).unwrap()
}

#[test]
fn integrity_is_written_as_the_reference_parser_reads_it() {
    let cases = [
        (MsgIntegrity::Ok, "OK"),
        (
            MsgIntegrity::Error(MsgErrorType::Skipped { from: 4, to: 6 }),
            "ERR IDS 4 6",
        ),
        (MsgIntegrity::Error(MsgErrorType::BadId(3)), "ERR ID 3"),
        (MsgIntegrity::Error(MsgErrorType::BadHash), "ERR HASH"),
        (
            MsgIntegrity::Error(MsgErrorType::Duplicate),
            "ERR DUPLICATE",
        ),
    ];
    for (integrity, expected) in cases {
        assert_eq!(text(&integrity), expected);
        assert_eq!(
            MsgIntegrity::str_decode(expected.as_bytes()).unwrap(),
            integrity
        );
    }
}

#[test]
fn integrity_as_the_reference_prints_it_is_read_too() {
    // v3.2.0 prints `"ERR" <> strEncode e` with no space and skipped ids as `NO_ID`
    // (REFERENCE-NOTES item 34); later versions print `ERR NO_ID a b`.
    let cases = [
        ("ERRNO_ID 4 6", MsgErrorType::Skipped { from: 4, to: 6 }),
        ("ERR NO_ID 4 6", MsgErrorType::Skipped { from: 4, to: 6 }),
        ("ERRID 3", MsgErrorType::BadId(3)),
        ("ERRHASH", MsgErrorType::BadHash),
        ("ERRDUPLICATE", MsgErrorType::Duplicate),
    ];
    for (printed, error) in cases {
        assert_eq!(
            MsgIntegrity::str_decode(printed.as_bytes()).unwrap(),
            MsgIntegrity::Error(error),
            "{printed}"
        );
    }
    for bad in ["ERR", "ERR ID", "ERR IDS 4", "ERR SKIPPED", "OKAY", "ok"] {
        assert!(MsgIntegrity::str_decode(bad.as_bytes()).is_err(), "{bad}");
    }
}

fn time(text: &str) -> UtcTime {
    UtcTime::str_decode(text.as_bytes()).unwrap()
}

#[test]
fn message_meta_as_in_msg() {
    let meta = MsgMeta {
        integrity: MsgIntegrity::Ok,
        rcv_id: 4,
        rcv_time: time("2022-08-16T10:20:30.123456Z"),
        broker_id: vec![0xfb, 0xff, 0x01, 0x02, 0x03, 0x04],
        broker_time: time("2022-08-16T10:20:29Z"),
        snd_id: 3,
    };
    // Times with exactly three fraction digits (`formatISO8601Millis`, truncated); the broker
    // id in standard base64 (`+`, `/`).
    let expected = "OK R=4,2022-08-16T10:20:30.123Z B=+/8BAgME,2022-08-16T10:20:29.000Z S=3";
    assert_eq!(text(&meta), expected);
    let read = MsgMeta::str_decode(expected.as_bytes()).unwrap();
    assert_eq!(read.rcv_time, time("2022-08-16T10:20:30.123Z"));
    assert_eq!(read.broker_id, meta.broker_id);
    assert_eq!(read.broker_time, meta.broker_time);

    let skipped = MsgMeta {
        integrity: MsgIntegrity::Error(MsgErrorType::Skipped { from: 5, to: 5 }),
        ..read
    };
    assert_eq!(
        text(&skipped),
        "ERR IDS 5 5 R=4,2022-08-16T10:20:30.123Z B=+/8BAgME,2022-08-16T10:20:29.000Z S=3"
    );
    // What the v3.2.0 agent itself prints for it.
    let printed =
        "ERRNO_ID 5 5 R=4,2022-08-16T10:20:30.123Z B=+/8BAgME,2022-08-16T10:20:29.000Z S=3";
    assert_eq!(MsgMeta::str_decode(printed.as_bytes()).unwrap(), skipped);
}

fn server(text: &str) -> ServerAddress {
    ServerAddress::str_decode(text.as_bytes()).unwrap()
}

#[test]
fn connection_stats_as_in_stat() {
    let a = "smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh9Fe_ZkQO5Aro=@smp4.simplex.im,o5vmywmrnaxalvz6wi3zicyftgio6psuvyniis6gco6bp6ekl4cqj4id.onion";
    let b = "smp://hpq7_4gGJiilmz5Rf-CswuU5kZGkm_zOIooSw6yALRg=@localhost:5001";
    let stats = ConnectionStats {
        rcv_servers: vec![server(a), server(b)],
        snd_servers: vec![server(b)],
    };
    let expected = format!("rcv={a},{b} snd={b}");
    assert_eq!(text(&stats), expected);
    assert_eq!(
        ConnectionStats::str_decode(expected.as_bytes()).unwrap(),
        stats
    );

    let empty = ConnectionStats::default();
    assert_eq!(text(&empty), "rcv= snd=");
    assert_eq!(ConnectionStats::str_decode(b"rcv= snd=").unwrap(), empty);
    assert!(ConnectionStats::str_decode(b"snd= rcv=").is_err());
}

#[test]
fn words() {
    for (mode, word) in [
        (NotificationsMode::Periodic, "PERIODIC"),
        (NotificationsMode::Instant, "INSTANT"),
    ] {
        assert_eq!(text(&mode), word);
        assert_eq!(
            NotificationsMode::str_decode(word.as_bytes()).unwrap(),
            mode
        );
    }
    assert!(NotificationsMode::str_decode(b"periodic").is_err());

    for (status, word) in [
        (QueueStatus::New, "new"),
        (QueueStatus::Confirmed, "confirmed"),
        (QueueStatus::Secured, "secured"),
        (QueueStatus::Active, "active"),
        (QueueStatus::Disabled, "disabled"),
    ] {
        assert_eq!(status.word(), word);
        assert_eq!(QueueStatus::from_word(word), Some(status));
    }
    assert_eq!(QueueStatus::from_word("Active"), None);

    for (mode, word) in [
        (ConnectionMode::Invitation, "INV"),
        (ConnectionMode::Contact, "CON"),
    ] {
        assert_eq!(text(&mode), word);
        assert_eq!(ConnectionMode::str_decode(word.as_bytes()).unwrap(), mode);
    }
    assert!(ConnectionMode::str_decode(b"CONTACT").is_err());
}

fn integrity() -> impl Strategy<Value = MsgIntegrity> {
    let id = 0..i64::MAX;
    prop_oneof![
        Just(MsgIntegrity::Ok),
        (id.clone(), id.clone())
            .prop_map(|(from, to)| MsgIntegrity::Error(MsgErrorType::Skipped { from, to })),
        id.prop_map(|i| MsgIntegrity::Error(MsgErrorType::BadId(i))),
        Just(MsgIntegrity::Error(MsgErrorType::BadHash)),
        Just(MsgIntegrity::Error(MsgErrorType::Duplicate)),
    ]
}

/// Times from year 1970 to 9999 with whole milliseconds, the precision `MSG` carries.
fn millis_time() -> impl Strategy<Value = UtcTime> {
    (0i64..253_402_300_800, 0u32..1000).prop_map(|(seconds, millis)| UtcTime {
        seconds,
        nanoseconds: millis * 1_000_000,
    })
}

proptest! {
    #[test]
    fn meta_round_trips(
        integrity in integrity(),
        rcv_id in 0..i64::MAX,
        rcv_time in millis_time(),
        broker_id in prop::collection::vec(any::<u8>(), 1..32),
        broker_time in millis_time(),
        snd_id in 0..i64::MAX,
    ) {
        let meta = MsgMeta { integrity, rcv_id, rcv_time, broker_id, broker_time, snd_id };
        prop_assert_eq!(MsgMeta::str_decode(&meta.to_str_bytes()).unwrap(), meta);
    }

    #[test]
    fn meta_drops_time_below_milliseconds(nanos in 0u32..1_000_000_000) {
        let at = |nanoseconds| UtcTime { seconds: 1_660_645_230, nanoseconds };
        let meta = MsgMeta {
            integrity: MsgIntegrity::Ok,
            rcv_id: 1,
            rcv_time: at(nanos),
            broker_id: vec![1],
            broker_time: at(nanos),
            snd_id: 1,
        };
        let read = MsgMeta::str_decode(&meta.to_str_bytes()).unwrap();
        prop_assert_eq!(read.rcv_time, at(nanos - nanos % 1_000_000));
    }

    #[test]
    fn reading_any_meta_text_is_safe(text in "(OK|ERR[ A-Z_0-9]{0,8}) R=[0-9,:.TZ-]{0,30} B=[A-Za-z0-9+/=,]{0,12} S=[0-9]{0,4}") {
        // Whatever parses prints as text that reads back and prints the same.
        if let Ok(meta) = MsgMeta::str_decode(text.as_bytes()) {
            let once = meta.to_str_bytes();
            prop_assert_eq!(MsgMeta::str_decode(&once).unwrap().to_str_bytes(), once);
        }
    }
}
