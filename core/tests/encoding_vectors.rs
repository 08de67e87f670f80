//! The reference's encodings, checked against `spec/vectors/reference/encoding.json`.

// Helpers outside #[test] functions fail loudly on bad vectors, as tests should.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{cases, decimal_field, hex_field, u64_field};
use serde_json::Value;
use simplex_core::address::{Scheme, ServerAddress, ServiceLocation, TransportHost};
use simplex_core::crypto::hash::KeyHash;
use simplex_core::encoding::query::{Escaping, QueryParams};
use simplex_core::encoding::string::{StrDecode, StrEncode, Word};
use simplex_core::encoding::{
    pad, unpad, Decode, Encode, Large, NonEmpty, Reader, ShortBytes, Tail, UnixTime, UtcTime,
    VersionRange,
};
use simplex_core::protocol::{ErrorType, MsgFlags};

/// Checks `value` encodes to the expected bytes and decodes back to itself.
fn binary<T: Encode + Decode + PartialEq + std::fmt::Debug>(case: &Value, value: T) {
    let expected = hex_field(&case["outputs"], "encoded_hex");
    assert_eq!(
        hex::encode(value.to_bytes()),
        hex::encode(&expected),
        "{}",
        case["name"]
    );
    assert_eq!(
        T::decode_slice(&expected).unwrap(),
        value,
        "{}",
        case["name"]
    );
}

/// Checks `value`'s text form and that it parses back.
fn text<T: StrEncode + StrDecode + PartialEq + std::fmt::Debug>(case: &Value, value: T) {
    let expected = hex_field(&case["outputs"], "encoded_hex");
    assert_eq!(
        String::from_utf8_lossy(&value.to_str_bytes()),
        String::from_utf8_lossy(&expected),
        "{}",
        case["name"]
    );
    assert_eq!(T::str_decode(&expected).unwrap(), value, "{}", case["name"]);
}

fn short(v: &Value, key: &str) -> ShortBytes {
    ShortBytes::new(hex_field(v, key)).unwrap()
}

fn version_range(v: &Value) -> VersionRange {
    VersionRange::new(u64_field(v, "min") as u16, u64_field(v, "max") as u16).unwrap()
}

/// Handles one case; `false` when it belongs to a module that checks it elsewhere.
fn check(case: &Value) -> bool {
    let name = case["name"].as_str().unwrap();
    let i = &case["inputs"];
    let o = &case["outputs"];
    match name {
        n if n.starts_with("word16_") => binary(case, u64_field(i, "value") as u16),
        n if n.starts_with("word32_") => binary(case, u64_field(i, "value") as u32),
        n if n.starts_with("int64_") => binary(case, decimal_field(i, "value_decimal")),
        n if n.starts_with("bool_") => binary(case, i["value"].as_bool().unwrap()),
        n if n.starts_with("char_") => binary(case, i["value"].as_str().unwrap().as_bytes()[0]),
        "maybe_bytestring_nothing" => binary(case, Option::<ShortBytes>::None),
        "maybe_bytestring_just_abc" | "maybe_bytestring_just_empty" => {
            binary(case, Some(short(i, "value_just_hex")))
        }
        "maybe_word16_just_5" => binary(case, Some(u64_field(i, "value_just") as u16)),
        "maybe_bool_just_false" => binary(case, Some(i["value_just"].as_bool().unwrap())),
        "bytestring_300_length_wraps" => {
            // The reference writes an undecodable value here; we refuse to build it at all.
            assert!(ShortBytes::new(vec![b'x'; 300]).is_err());
            assert!(ShortBytes::decode_slice(&hex_field(o, "encoded_hex")).is_err());
        }
        n if n.starts_with("bytestring_") || n == "string_hello" => {
            binary(case, short(i, "value_hex"))
        }
        n if n.starts_with("large_") => {
            binary(case, Large::new(hex_field(i, "value_hex")).unwrap())
        }
        n if n.starts_with("tail_") => binary(case, Tail(hex_field(i, "value_hex").into())),
        "nonempty_word16_3" => {
            let items = i["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u16);
            binary(case, NonEmpty::new(items.collect()).unwrap())
        }
        n if n.starts_with("nonempty_bytestring") => {
            let items = i["value"].as_array().unwrap().iter();
            let items =
                items.map(|x| ShortBytes::new(hex::decode(x.as_str().unwrap()).unwrap()).unwrap());
            binary(case, NonEmpty::new(items.collect()).unwrap())
        }
        "list_empty" => {
            assert_eq!(hex_field(o, "encoded_hex"), [0]);
            assert!(NonEmpty::<ShortBytes>::decode_slice(&[0]).is_err());
        }
        "tuple_word16_bytestring" => binary(
            case,
            (u64_field(i, "value_0") as u16, short(i, "value_1_hex")),
        ),
        "tuple_bool_char_bytestring_tail" => binary(
            case,
            (
                i["value_0"].as_bool().unwrap(),
                i["value_1"].as_str().unwrap().as_bytes()[0],
                short(i, "value_2_hex"),
                Tail(hex_field(i, "value_3_hex").into()),
            ),
        ),
        "tuple_maybe_int64_large" => binary(
            case,
            (
                Some(decimal_field(i, "value_0_decimal")),
                Large::new(hex_field(i, "value_1_hex")).unwrap(),
            ),
        ),
        n if n.starts_with("systemtime_") => {
            let time = UnixTime {
                seconds: i["seconds"].as_i64().unwrap(),
                nanoseconds: u64_field(i, "nanoseconds") as u32,
            };
            assert_eq!(time.to_bytes(), hex_field(o, "encoded_hex"), "{name}");
            assert_eq!(
                UnixTime::decode_slice(&time.to_bytes()).unwrap(),
                UnixTime::from_seconds(time.seconds)
            );
        }
        "version_3" => binary(case, u64_field(i, "value") as u16),
        n if n.starts_with("versionrange_") => binary(case, version_range(i)),
        n if n.starts_with("str_bytestring_") && n != "str_bytestring_empty" => {
            text(case, hex_field(i, "value_hex"))
        }
        "str_bytestring_empty" => {
            assert_eq!(Vec::<u8>::new().to_str_bytes(), b"");
            assert_eq!(Vec::<u8>::str_decode(b"").unwrap(), b"");
            assert!(
                <(Vec<u8>, Vec<u8>)>::str_decode(b"YQ== ").is_err(),
                "empty field inside a line"
            );
        }
        "str_cbnonce" | "str_keyhash" => text(case, hex_field(i, "value_hex")),
        "str_word16_443" => text(case, u64_field(i, "value") as u16),
        "str_int64_1660000000" => text(case, decimal_field(i, "value_decimal")),
        "str_int_12" => text(case, u64_field(i, "value") as usize),
        "str_bool_true" => text(case, i["value"].as_bool().unwrap()),
        "str_maybe_just_bytestring" => text(case, Some(hex_field(i, "value_just_hex"))),
        "str_systemtime" => text(case, UnixTime::from_seconds(i["seconds"].as_i64().unwrap())),
        n if n.starts_with("str_versionrange_") => text(case, version_range(i)),
        "str_tuple_bytestring_word16" => text(
            case,
            (hex_field(i, "value_0_hex"), u64_field(i, "value_1") as u16),
        ),
        "str_nonempty_bytestring" => {
            let items = i["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| hex::decode(x.as_str().unwrap()).unwrap());
            text(case, NonEmpty::new(items.collect()).unwrap())
        }
        "str_str" => text(case, Word(hex_field(i, "value_hex"))),
        "str_utctime" => {
            let value = UtcTime::str_decode(i["value"].as_str().unwrap().as_bytes()).unwrap();
            text(case, value)
        }
        n if n.starts_with("querystring_") => {
            let escaping = if n.ends_with("not_escaped") {
                Escaping::NoEscaping
            } else {
                Escaping::Escape
            };
            let params = i["params"].as_array().unwrap().iter().map(|p| {
                let p = p.as_array().unwrap();
                (
                    p[0].as_str().unwrap().as_bytes().to_vec(),
                    p[1].as_str().unwrap().as_bytes().to_vec(),
                )
            });
            let q = QueryParams {
                escaping,
                params: params.collect(),
            };
            assert_eq!(q.to_str_bytes(), hex_field(o, "encoded_hex"), "{name}");
            let parsed = QueryParams::str_decode(&q.to_str_bytes()).unwrap();
            assert_eq!(parsed.params, q.params, "{name}");
        }
        n if n.starts_with("pad_") => {
            let padded = pad(
                &hex_field(i, "message_hex"),
                u64_field(i, "padded_length") as usize,
            );
            match o["padded_hex"].as_str() {
                Some(expected) => assert_eq!(hex::encode(padded.unwrap()), expected, "{name}"),
                None => assert!(padded.is_err(), "{name}"),
            }
        }
        n if n.starts_with("unpad_") => {
            let padded = hex_field(i, "padded_hex");
            match o["message_hex"].as_str() {
                Some(expected) => {
                    assert_eq!(hex::encode(unpad(&padded).unwrap()), expected, "{name}")
                }
                None => assert!(unpad(&padded).is_err(), "{name}"),
            }
        }
        n if n.starts_with("msgflags_notification_") || n == "str_msgflags_true" => {
            let flags = MsgFlags {
                notification: i["notification"].as_bool().unwrap(),
            };
            assert_eq!(flags.to_bytes(), hex_field(o, "encoded_hex"), "{name}");
            assert_eq!(MsgFlags::decode_slice(&flags.to_bytes()).unwrap(), flags);
        }
        "msgflags_parse_with_future_flags" => {
            let mut r = Reader::from_slice(&hex_field(i, "input_hex"));
            let flags = MsgFlags::decode(&mut r).unwrap();
            assert_eq!(flags.notification, o["notification"].as_bool().unwrap());
            r.expect_byte(b' ', "space").unwrap();
            assert_eq!(
                r.peek_rest(),
                o["rest_after_space_text"].as_str().unwrap().as_bytes()
            );
        }
        n if n.starts_with("errortype_") => {
            let expected = hex_field(o, "encoded_hex");
            let error = ErrorType::decode_slice(&expected).unwrap();
            assert_eq!(error.to_bytes(), expected, "{name}");
            assert_eq!(error.to_string(), i["value"].as_str().unwrap());
        }
        "str_transporthost_ipv4" | "str_transporthost_domain" | "str_transporthost_onion" => {
            let host = TransportHost::str_decode(i["value"].as_str().unwrap().as_bytes()).unwrap();
            let expected_kind = &name["str_transporthost_".len()..];
            let kind = match host {
                TransportHost::Ipv4(_) => "ipv4",
                TransportHost::Onion(_) => "onion",
                TransportHost::Domain(_) => "domain",
            };
            assert_eq!(kind, expected_kind);
            text(case, host);
        }
        "str_transporthosts_3" => {
            let hosts = i["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| TransportHost::str_decode(h.as_str().unwrap().as_bytes()).unwrap());
            text(case, NonEmpty::new(hosts.collect()).unwrap());
        }
        "smp_transporthost_domain" => binary(
            case,
            TransportHost::str_decode(i["value"].as_str().unwrap().as_bytes()).unwrap(),
        ),
        "smp_transporthosts_2" => {
            let hosts = i["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| TransportHost::str_decode(h.as_str().unwrap().as_bytes()).unwrap());
            binary(case, NonEmpty::new(hosts.collect()).unwrap());
        }
        n if n.starts_with("str_smpserver_") || n.starts_with("smp_smpserver_") => {
            let hosts =
                NonEmpty::<TransportHost>::str_decode(i["hosts"].as_str().unwrap().as_bytes())
                    .unwrap();
            let key_hash = KeyHash::from_bytes(hex_field(i, "keyhash_hex").try_into().unwrap());
            let address = ServerAddress {
                scheme: Scheme::Smp,
                hosts,
                port: i["port"].as_str().unwrap().to_owned(),
                key_hash,
            };
            if n.starts_with("str_") {
                text(case, address)
            } else {
                binary(case, address)
            }
        }
        n if n.starts_with("str_srvloc") => text(
            case,
            ServiceLocation {
                host: i["host"].as_str().unwrap().to_owned(),
                port: i["port"].as_str().unwrap().to_owned(),
            },
        ),
        _ => return false,
    }
    true
}

#[test]
fn every_encoding_vector_matches() {
    let all = cases("encoding.json");
    let deferred: Vec<String> = all
        .iter()
        .filter(|case| !check(case))
        .map(|case| case["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(deferred.is_empty(), "unhandled vector cases: {deferred:?}");
    assert!(all.len() >= 100, "only {} cases", all.len());
}
