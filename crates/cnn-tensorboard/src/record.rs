//! TFRecord framing, as TensorBoard reads event files: each record is
//! `u64 length (LE) · u32 masked CRC-32C of the length · data · u32 masked CRC-32C of the data`,
//! where `masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8`.

use std::io::Write;

use crate::error::{Result, TbError};

/// TensorFlow's masked CRC-32C of `data`.
pub fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c::crc32c(data);
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Writes one record holding `data`.
pub fn write_record(w: &mut impl Write, data: &[u8]) -> std::io::Result<()> {
    let len = (data.len() as u64).to_le_bytes();
    w.write_all(&len)?;
    w.write_all(&masked_crc(&len).to_le_bytes())?;
    w.write_all(data)?;
    w.write_all(&masked_crc(data).to_le_bytes())
}

/// The records of an event file, each checked against its checksums. A damaged record is an
/// error; so is a cut-short last record (what a crash mid-write leaves: TensorBoard stops
/// reading there, and so can a caller that wants the intact prefix, from the error's index).
pub fn read_records(bytes: &[u8]) -> Result<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let index = out.len();
        let err = |message: &str| TbError::Record {
            index,
            message: message.to_string(),
        };
        let header = bytes
            .get(at..at + 12)
            .ok_or_else(|| err("cut short in its header"))?;
        let (len_bytes, len_crc) = header.split_at(8);
        if masked_crc(len_bytes).to_le_bytes() != len_crc {
            return Err(err("length checksum mismatch"));
        }
        let len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
        let len = usize::try_from(len).map_err(|_| err("length does not fit in memory"))?;
        let start = at + 12;
        let end = start
            .checked_add(len)
            .and_then(|e| e.checked_add(4))
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| err("cut short in its data"))?;
        let data = &bytes[start..end - 4];
        if masked_crc(data).to_le_bytes() != bytes[end - 4..end] {
            return Err(err("data checksum mismatch"));
        }
        out.push(data);
        at = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_and_its_mask_match_known_values() {
        // CRC-32C check value (RFC 3720 / iSCSI).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        // ((c >> 15) | (c << 17)) + 0xa282ead8, worked out by hand for that value.
        assert_eq!(masked_crc(b"123456789"), 0xC78A_B0E5);
    }

    #[test]
    fn records_round_trip_and_damage_is_caught() {
        let mut buf = Vec::new();
        write_record(&mut buf, b"first").unwrap();
        write_record(&mut buf, b"").unwrap();
        write_record(&mut buf, &[7u8; 300]).unwrap();
        let recs = read_records(&buf).unwrap();
        assert_eq!(recs, [&b"first"[..], &b""[..], &[7u8; 300][..]]);
        assert_eq!(buf.len(), 3 * 16 + 5 + 300);
        // Every single-bit flip is caught (or, in the length, reads as a damaged length).
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x10;
            assert!(read_records(&bad).is_err(), "flip at byte {i} not caught");
        }
        // A cut-short file names the record where it ends.
        let e = read_records(&buf[..buf.len() - 3]).unwrap_err().to_string();
        assert!(e.starts_with("record 2: cut short"), "{e}");
    }
}
