//! Reading only what the key index needs from a stored `mvccpb.KeyValue`.
//!
//! Recovery rebuilds the index from every record on disk (a million keys is
//! a million records). Decoding each record in full would allocate and copy
//! its value only to drop it; this reads the protobuf fields in place and
//! skips the value.

/// The fields of a stored KeyValue that the index and the lessor need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexFields<'a> {
    pub key: &'a [u8],
    pub create_revision: i64,
    pub version: i64,
    pub lease: i64,
}

// Field numbers of mvccpb.KeyValue.
const KEY: u64 = 1;
const CREATE_REVISION: u64 = 2;
const VERSION: u64 = 4;
const LEASE: u64 = 6;

/// Parses the fields of an encoded KeyValue; `None` if it is malformed.
pub fn index_fields(mut buf: &[u8]) -> Option<IndexFields<'_>> {
    let mut out = IndexFields::default();
    while !buf.is_empty() {
        let tag = varint(&mut buf)?;
        let (field, wire_type) = (tag >> 3, tag & 7);
        match wire_type {
            0 => {
                let v = varint(&mut buf)? as i64;
                match field {
                    CREATE_REVISION => out.create_revision = v,
                    VERSION => out.version = v,
                    LEASE => out.lease = v,
                    _ => {}
                }
            }
            2 => {
                let len = usize::try_from(varint(&mut buf)?).ok()?;
                let bytes = buf.get(..len)?;
                if field == KEY {
                    out.key = bytes;
                }
                buf = &buf[len..];
            }
            1 => buf = buf.get(8..)?,
            5 => buf = buf.get(4..)?,
            _ => return None,
        }
    }
    Some(out)
}

fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, byte) in buf.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *buf = &buf[i + 1..];
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use capstan_proto::mvccpb::KeyValue;
    use prost::Message;

    use super::*;

    #[test]
    fn reads_the_same_fields_as_a_full_decode() {
        let kv = KeyValue {
            key: b"some/key".to_vec(),
            create_revision: 300,
            mod_revision: 1 << 40,
            version: 7,
            value: vec![0xff; 1000],
            lease: 0x694d_7a4c_1234_5678,
        };
        let bytes = kv.encode_to_vec();
        let f = index_fields(&bytes).unwrap();
        assert_eq!(f, IndexFields { key: b"some/key", create_revision: 300, version: 7, lease: kv.lease });
        let tombstone = KeyValue { key: b"k".to_vec(), ..Default::default() }.encode_to_vec();
        assert_eq!(index_fields(&tombstone).unwrap(), IndexFields { key: b"k", ..Default::default() });
        assert_eq!(index_fields(&bytes[..bytes.len() - 1]), None, "truncated");
    }
}
