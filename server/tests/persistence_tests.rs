//! Store log, saved messages, stats and the durable journal: the reference's formats (from
//! `spec/vectors/reference/store_log.json`), restarts, torn writes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod reference_data;

use bytes::Bytes;
use common::*;
use reference_data::cases;
use serde_json::Value;
use simplex_core::encoding::UnixTime;
use simplex_core::protocol::{BrokerMsg, Command, EntityId, MsgFlags, MsgId};
use simplex_server::durable::{self, JournalRecord};
use simplex_server::msg_log::{self, SavedMessageLine, StoredMessage};
use simplex_server::stats::ServerStats;
use simplex_server::store_log::{compact, read_store_log, StoreLogRecord};
use simplex_server::{ServerConfig, ServerInput, ServerOutput, StatsConfig};

fn case<'a>(cases: &'a [Value], name: &str) -> &'a Value {
    cases
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

fn hex_of(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

const RECORDS: [&str; 6] = [
    "storelog_create_queue",
    "storelog_secure_queue",
    "storelog_add_notifier",
    "storelog_create_queue_full",
    "storelog_delete_notifier",
    "storelog_delete_queue",
];

#[test]
fn store_log_vector_lines_parse_and_reencode_byte_for_byte() {
    let cases = cases("store_log.json");
    for name in RECORDS {
        let out = &case(&cases, name)["outputs"];
        let line = hex_of(&out["line_hex"]);
        assert_eq!(line.last(), Some(&b'\n'));
        let record = StoreLogRecord::parse_line(&line[..line.len() - 1]).unwrap();
        assert_eq!(
            record.to_line(),
            out["line_text"].as_str().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn reads_a_reference_store_log_and_compacts_it_as_the_reference() {
    let cases = cases("store_log.json");
    let mut log = Vec::new();
    for name in RECORDS {
        log.extend(hex_of(&case(&cases, name)["outputs"]["line_hex"]));
    }
    let read = read_store_log(&log);
    assert_eq!((read.bad_lines, read.torn_tail), (0, false));
    let compacted = compact(read.queues.values());
    let expected = hex_of(&case(&cases, "storelog_compacted_after_restart")["outputs"]["file_hex"]);
    assert_eq!(compacted.as_bytes(), &expected[..]);
}

#[test]
fn torn_last_record_is_ignored_and_nothing_before_it_is_lost() {
    let cases = cases("store_log.json");
    let create = hex_of(&case(&cases, "storelog_create_queue")["outputs"]["line_hex"]);
    let secure = hex_of(&case(&cases, "storelog_secure_queue")["outputs"]["line_hex"]);
    let delete = hex_of(&case(&cases, "storelog_delete_queue")["outputs"]["line_hex"]);
    for cut in 1..secure.len() {
        let mut log = create.clone();
        log.extend_from_slice(&secure[..cut]);
        let read = read_store_log(&log);
        assert_eq!(read.queues.len(), 1, "cut at {cut}");
        assert!(read.torn_tail || cut == secure.len());
        assert!(read.queues.values().next().unwrap().sender_key.is_none());
    }
    // a torn DELETE of another queue's id prefix must not delete anything either
    let mut log = create.clone();
    log.extend_from_slice(&delete[..delete.len() - 5]);
    assert_eq!(read_store_log(&log).queues.len(), 1);
    // CRLF and garbage lines are tolerated
    let mut log = create.clone();
    log.extend_from_slice(b"garbage\r\n");
    let read = read_store_log(&log);
    assert_eq!((read.queues.len(), read.bad_lines), (1, 1));
}

#[test]
fn store_log_ids_of_another_length_are_bad_lines() {
    let cases = cases("store_log.json");
    let create = String::from_utf8(hex_of(
        &case(&cases, "storelog_create_queue")["outputs"]["line_hex"],
    ))
    .unwrap();
    let rid = create
        .split(' ')
        .nth(1)
        .and_then(|f| f.strip_prefix("rid="))
        .unwrap()
        .to_string();
    assert_eq!(rid.len(), 32, "24 bytes in base64");
    // 12 and 27 bytes instead of 24
    for other in [rid[..16].to_string(), format!("{rid}AAAA")] {
        let read = read_store_log(create.replace(&rid, &other).as_bytes());
        assert_eq!((read.queues.len(), read.bad_lines), (0, 1));
    }
    let read = read_store_log(format!("{create}DELETE {}\n", &rid[..16]).as_bytes());
    assert_eq!((read.queues.len(), read.bad_lines), (1, 1));
}

#[test]
fn store_log_round_trip_through_a_restart() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect(4);
    let q1 = h.create_queue(&c, false);
    let q2 = h.create_queue(&c, true);
    let q3 = h.create_queue(&c, false);
    let skey = h.secure(&c, &q1, true);
    let nkey = sign_key(&mut h.rng, false);
    let ndh = simplex_core::crypto::x25519::PrivateKey::generate(&mut h.rng);
    let BrokerMsg::Nid { notifier_id, .. } = h.ask(
        &c,
        Some(&q1.rkey),
        "n",
        &q1.rid,
        Command::NKey {
            notifier_key: nkey.verify_key(),
            dh_key: ndh.public_key(),
        },
    ) else {
        panic!()
    };
    assert_eq!(
        h.ask(&c, Some(&q2.rkey), "d", &q2.rid, Command::Del),
        BrokerMsg::Ok
    );
    assert_eq!(
        h.ask(&c, Some(&q3.rkey), "o", &q3.rid, Command::Off),
        BrokerMsg::Ok
    );
    let log: String = h.persisted.iter().map(|l| format!("{l}\n")).collect();
    assert!(h.persisted.iter().all(|l| l.starts_with("CREATE")
        || l.starts_with("SECURE")
        || l.starts_with("NOTIFIER")
        || l.starts_with("DELETE")));
    let read = read_store_log(log.as_bytes());
    assert_eq!(
        read.queues.len(),
        1,
        "deleted and suspended queues do not come back (as the reference)"
    );
    // compaction is stable
    let compacted = compact(read.queues.values());
    assert_eq!(
        compact(read_store_log(compacted.as_bytes()).queues.values()),
        compacted
    );

    let mut h2 = Harness::with_seed(ServerConfig::default(), 9);
    h2.server.restore_queues(read.queues.into_values()).unwrap();
    let r = h2.connect(4);
    let s = h2.connect(4);
    let n = h2.connect(4);
    assert_eq!(
        h2.ask(&r, Some(&q1.rkey), "sub", &q1.rid, Command::Sub),
        BrokerMsg::Ok
    );
    assert_eq!(
        h2.ask(&s, None, "unsigned", &q1.sid, send_cmd(b"x")),
        BrokerMsg::Err(simplex_core::protocol::ErrorType::Auth)
    );
    assert_eq!(
        h2.ask(
            &n,
            Some(&nkey),
            "nsub",
            notifier_id.as_bytes(),
            Command::NSub
        ),
        BrokerMsg::Ok
    );
    let got = h2.cmd(&s, Some(&skey), "send", &q1.sid, send_ntf(b"after restart"));
    assert_eq!(got.len(), 3);
    assert_eq!(
        open(&q1, 4, &got.iter().find(|g| g.to == r.id).unwrap().msg).1,
        b"after restart"
    );
    assert_eq!(
        h2.ask(&r, Some(&q2.rkey), "gone", &q2.rid, Command::Sub),
        BrokerMsg::Err(simplex_core::protocol::ErrorType::Auth)
    );
}

#[test]
fn saved_message_vectors() {
    let cases = cases("store_log.json");
    for name in [
        "saved_message_v3_hello_notify",
        "saved_message_v3_binary_no_notify",
        "saved_message_v3_empty_body_reference_bug",
    ] {
        let c = case(&cases, name);
        let i = &c["inputs"];
        let rid = EntityId::from_slice(&hex_of(&i["recipient_id_hex"])).unwrap();
        let message = StoredMessage {
            msg_id: MsgId::from_slice(&hex_of(&i["msg_id_hex"])).unwrap(),
            timestamp: UnixTime::from_seconds(i["msg_ts_seconds"].as_i64().unwrap()),
            flags: MsgFlags {
                notification: i["notification_flag"].as_bool().unwrap(),
            },
            body: Bytes::from(hex_of(&i["body_hex"])),
        };
        let line = c["outputs"]["line_text"].as_str().unwrap();
        assert_eq!(msg_log::encode_line(&rid, &message), line, "{name}");
        // we read back what we write, the empty body included (the reference does not)
        assert_eq!(
            msg_log::parse_line(line.as_bytes()).unwrap(),
            SavedMessageLine::V3 {
                recipient_id: rid,
                message
            },
            "{name}"
        );
    }
    let c = case(&cases, "saved_message_v1_legacy");
    let SavedMessageLine::V1 {
        recipient_id,
        message,
    } = msg_log::parse_line(c["outputs"]["line_text"].as_str().unwrap().as_bytes()).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        recipient_id.as_bytes(),
        &hex_of(&c["inputs"]["recipient_id_hex"])[..]
    );
    assert_eq!(
        &message.body[..],
        &hex_of(&c["inputs"]["encrypted_body_hex"])[..]
    );
    assert!(message.flags.notification);
}

fn saved_lines(outputs: &[ServerOutput]) -> String {
    outputs
        .iter()
        .filter_map(|o| match o {
            ServerOutput::SaveMessage {
                recipient_id,
                message,
            } => Some(format!("{}\n", msg_log::encode_line(recipient_id, message))),
            _ => None,
        })
        .collect()
}

#[test]
fn messages_saved_at_stop_and_restored_at_start_including_empty_bodies() {
    let mut h = Harness::new(ServerConfig::default());
    let r = h.connect(4);
    let s = h.connect(4);
    let q = h.create_queue(&r, false);
    let skey = h.secure(&r, &q, false);
    h.close(&r);
    let bodies: [&[u8]; 4] = [b"hello", b"", b"binary \x00\xff", b"last"];
    for b in bodies {
        assert_eq!(
            h.ask(&s, Some(&skey), "s", &q.sid, send_cmd(b)),
            BrokerMsg::Ok
        );
    }
    let out = h.input(ServerInput::Shutdown);
    assert!(matches!(out.last(), Some(ServerOutput::StatsBackup(_))));
    let saved = saved_lines(&out);
    assert_eq!(saved.lines().count(), 4);
    assert!(h
        .server
        .handle_input(h.clock(), ServerInput::Timeout)
        .is_err());

    let log: String = h.persisted.iter().map(|l| format!("{l}\n")).collect();
    let mut h2 = Harness::with_seed(ServerConfig::default(), 5);
    h2.server
        .restore_queues(read_store_log(log.as_bytes()).queues.into_values())
        .unwrap();
    let report = h2.server.restore_messages(saved.as_bytes()).unwrap();
    assert_eq!(report.restored, 4);
    let r = h2.connect(4);
    let mut msg = h2.ask(&r, Some(&q.rkey), "sub", &q.rid, Command::Sub);
    for b in bodies {
        let (id, body) = open(&q, 4, &msg);
        assert_eq!(body, b);
        msg = h2.ask(&r, Some(&q.rkey), "ack", &q.rid, Command::Ack(id));
    }
    assert_eq!(msg, BrokerMsg::Ok);
}

#[test]
fn legacy_v1_saved_messages_are_decrypted_on_restore() {
    let mut h = Harness::new(ServerConfig::default());
    let r = h.connect(4);
    let q = h.create_queue(&r, false);
    h.close(&r);
    // a v1 line: the body boxed for the recipient as a v1 MSG carried it
    let msg_id = MsgId::from_slice(&[3u8; 24]).unwrap();
    let m = StoredMessage {
        msg_id: msg_id.clone(),
        timestamp: UnixTime::from_seconds(T0),
        flags: MsgFlags { notification: true },
        body: Bytes::from_static(b"old hello"),
    };
    let BrokerMsg::Msg(enc) = simplex_server::encrypt_message(&q.dh, 1, &m) else {
        panic!()
    };
    let line = format!(
        "{} {} {} flags=T {}\n",
        simplex_core::encoding::string::base64url_encode(&q.rid),
        simplex_core::encoding::string::base64url_encode(msg_id.as_bytes()),
        T0,
        simplex_core::encoding::string::base64url_encode(&enc.encrypted_body)
    );
    let log: String = h.persisted.iter().map(|l| format!("{l}\n")).collect();
    let mut h2 = Harness::with_seed(ServerConfig::default(), 5);
    h2.server
        .restore_queues(read_store_log(log.as_bytes()).queues.into_values())
        .unwrap();
    let report = h2
        .server
        .restore_messages(format!("{line}not a line\n").as_bytes())
        .unwrap();
    assert_eq!((report.restored, report.bad_lines), (1, 1));
    // delivered to a v2 client, as the reference's "Restore messages (v2)" test
    let r = h2.connect(2);
    let (id, body) = open(
        &q,
        2,
        &h2.ask(&r, Some(&q.rkey), "sub", &q.rid, Command::Sub),
    );
    assert_eq!((id, body), (msg_id, b"old hello".to_vec()));
}

#[test]
fn restore_respects_quota_and_unknown_queues() {
    let mut h = Harness::new(ServerConfig {
        msg_queue_quota: 2,
        ..ServerConfig::default()
    });
    let r = h.connect(4);
    let q = h.create_queue(&r, false);
    let rid = EntityId::from_slice(&q.rid).unwrap();
    let mut text = String::new();
    for i in 0..3u8 {
        let m = StoredMessage {
            msg_id: MsgId::from_slice(&[i; 24]).unwrap(),
            timestamp: UnixTime::from_seconds(T0),
            flags: MsgFlags::default(),
            body: Bytes::from_static(b"x"),
        };
        text.push_str(&msg_log::encode_line(&rid, &m));
        text.push('\n');
        text.push_str(&msg_log::encode_line(
            &EntityId::from_slice(&[9u8; 24]).unwrap(),
            &m,
        ));
        text.push('\n');
    }
    let log: String = h.persisted.iter().map(|l| format!("{l}\n")).collect();
    let mut h2 = Harness::with_seed(
        ServerConfig {
            msg_queue_quota: 2,
            ..ServerConfig::default()
        },
        5,
    );
    h2.server
        .restore_queues(read_store_log(log.as_bytes()).queues.into_values())
        .unwrap();
    let report = h2.server.restore_messages(text.as_bytes()).unwrap();
    assert_eq!(
        (report.restored, report.over_quota, report.unknown_queue),
        (2, 1, 3)
    );
    // restoring after the first input is API misuse
    h2.connect(4);
    assert!(h2.server.restore_messages(b"").is_err());
}

#[test]
fn stats_line_and_backup() {
    // 2022-08-08 was a Monday; start at 23:00 with the line due at midnight
    let monday_2300 = 1_659_999_600 - 1_659_999_600 % 86_400 + 23 * 3600;
    let cfg = ServerConfig {
        log_stats: Some(StatsConfig::default()),
        ..ServerConfig::default()
    };
    let mut h = Harness::new(cfg.clone());
    h.wall = UnixTime::from_seconds(monday_2300);
    h.server = simplex_server::Server::new(
        cfg.clone(),
        rand_chacha::rand_core::SeedableRng::seed_from_u64(1),
        h.clock(),
    );
    assert!(
        matches!(h.server.poll_output(), ServerOutput::Timeout(Some(t)) if t.as_micros() == 3600 * 1_000_000)
    );
    let r = h.connect(4);
    let q = h.create_queue(&r, false);
    h.secure(&r, &q, false);
    let q2 = h.create_queue(&r, false);
    let got = h.cmd(&r, None, "s", &q2.sid, send_cmd(b"x"));
    let (id, _) = open(&q2, 4, &got[1].msg);
    h.ask(&r, Some(&q2.rkey), "a", &q2.rid, Command::Ack(id));
    let backup = h.server.stats().to_backup();
    let restored = ServerStats::from_backup(backup.as_bytes()).unwrap();
    assert_eq!(&restored, h.server.stats());
    h.advance(3600);
    let lines: Vec<_> = h
        .other
        .iter()
        .filter_map(|o| match o {
            ServerOutput::Stats(l) => Some(l.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(lines.len(), 1);
    let date = simplex_server::stats::date_string(UnixTime::from_seconds(monday_2300));
    let weekday = simplex_server::stats::weekday(h.wall);
    let week = if weekday == 1 { "1" } else { "" };
    let month = if simplex_server::stats::month_day(h.wall) == 1 {
        "1"
    } else {
        ""
    };
    assert_eq!(lines[0], format!("{date},2,1,0,1,1,1,{week},{month}"));
    assert!(!lines[0].contains(&simplex_core::encoding::string::base64url_encode(&q.rid)));
    // the next line a day later, counters reset
    h.advance(86_400);
    let lines: Vec<_> = h
        .other
        .iter()
        .filter_map(|o| match o {
            ServerOutput::Stats(l) => Some(l.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[1].contains(",0,0,0,0,0,0,"), "{}", lines[1]);
    // restore from a backup before start
    let mut h3 = Harness::new(cfg);
    h3.server.restore_stats(backup.as_bytes()).unwrap();
    assert_eq!(h3.server.stats().q_created, 2);
}

#[test]
fn stats_calendar_helpers() {
    // 2022-08-01 (Monday, first of the month)
    let t = UnixTime::from_seconds(1_659_312_000);
    assert_eq!(simplex_server::stats::date_string(t), "2022-08-01");
    assert_eq!(simplex_server::stats::weekday(t), 1);
    assert_eq!(simplex_server::stats::month_day(t), 1);
    assert_eq!(simplex_server::stats::weekday(UnixTime::from_seconds(0)), 4);
    let legacy = b"fromTime=2022-08-01T00:00:00Z\nqCreated=1\nqSecured=2\nqDeleted=3\nmsgSent=4\nmsgRecv=5\ndayMsgQueues=\nweekMsgQueues=\nmonthMsgQueues=";
    let s = ServerStats::from_backup(legacy).unwrap();
    assert_eq!((s.q_created, s.msg_recv), (1, 5));
}

#[test]
fn durable_journal_keeps_every_acknowledged_send_across_a_crash() {
    let cfg = ServerConfig {
        durable_messages: true,
        ..ServerConfig::default()
    };
    let mut h = Harness::new(cfg.clone());
    let r = h.connect(4);
    let s = h.connect(4);
    let q = h.create_queue(&r, false);
    let q2 = h.create_queue(&r, false);
    // the journal record precedes the OK
    let bytes = s.encode(None, b"1", &q.sid, &send_cmd(b"one"));
    let out = h.raw(&s, vec![bytes]);
    let j = out
        .iter()
        .position(|o| matches!(o, ServerOutput::Journal(_)))
        .unwrap();
    let ok = out
        .iter()
        .position(|o| matches!(o, ServerOutput::Transmit { client, .. } if *client == s.id))
        .unwrap();
    assert!(j < ok);
    let got = h.decode(out);
    let (m1, _) = open(&q, 4, &got[1].msg);
    h.cmd(&s, None, "2", &q.sid, send_cmd(b"two"));
    h.cmd(&s, None, "3", &q.sid, send_cmd(b""));
    h.ask(&r, Some(&q.rkey), "a", &q.rid, Command::Ack(m1));
    h.cmd(&s, None, "4", &q2.sid, send_cmd(b"gone"));
    h.ask(&r, Some(&q2.rkey), "d", &q2.rid, Command::Del);
    let journal: String = h
        .other
        .iter()
        .filter_map(|o| match o {
            ServerOutput::Journal(r) => Some(format!("{}\n", r.to_line())),
            _ => None,
        })
        .collect();
    // crash: no shutdown; a torn record at the end
    let torn = format!("{journal}v3 AAAA");
    let replayed = durable::replay(torn.as_bytes());
    let compacted = durable::compact(&replayed);
    assert_eq!(
        durable::compact(&durable::replay(compacted.as_bytes())),
        compacted
    );
    let log: String = h.persisted.iter().map(|l| format!("{l}\n")).collect();
    let mut h2 = Harness::with_seed(cfg, 3);
    h2.server
        .restore_queues(read_store_log(log.as_bytes()).queues.into_values())
        .unwrap();
    let msgs = replayed
        .into_iter()
        .flat_map(|(rid, ms)| ms.into_iter().map(move |m| (rid.clone(), m)));
    assert_eq!(h2.server.restore_journal(msgs).unwrap().restored, 2);
    let r = h2.connect(4);
    let (id, body) = open(
        &q,
        4,
        &h2.ask(&r, Some(&q.rkey), "sub", &q.rid, Command::Sub),
    );
    assert_eq!(body, b"two");
    let (_, body) = open(
        &q,
        4,
        &h2.ask(&r, Some(&q.rkey), "ack", &q.rid, Command::Ack(id)),
    );
    assert_eq!(body, b"");
    assert!(matches!(
        JournalRecord::parse_line(b"DEL AAAA").unwrap(),
        JournalRecord::DeleteQueue { .. }
    ));
}
