//! Text files in an encoding other than UTF-8 (`[sources.*] encoding`), decoded into a UTF-8 copy
//! that the CSV and JSON Lines readers read in their place. Line breaks are kept, so record and
//! line numbers are those of the original file.
//!
//! Windows-1252 and UTF-16 are decoded by `encoding_rs` (the WHATWG Encoding Standard's
//! decoders); ISO-8859-1 maps each byte to the code point of the same number.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use encoding_rs::{Decoder, DecoderResult, UTF_16BE, UTF_16LE, WINDOWS_1252};
use leadscore_core::CoreError;
use leadscore_core::config::TextEncoding;
use tempfile::NamedTempFile;

use super::read_full;
use crate::error::{IngestError, Result};

/// Bytes decoded per step.
const CHUNK: usize = 1 << 20;

/// A UTF-8 copy of `path` decoded from `encoding`, or `None` for UTF-8 (read as it is).
pub(super) fn to_utf8(path: &Path, encoding: TextEncoding) -> Result<Option<NamedTempFile>> {
    if encoding == TextEncoding::Utf8 {
        return Ok(None);
    }
    let rerr = |source| IngestError::from(CoreError::Read { path: path.to_path_buf(), source });
    let werr = |source| IngestError::from(CoreError::Write { path: std::env::temp_dir(), source });
    let fail = |problem: String| IngestError::Encoding { path: path.to_path_buf(), encoding: encoding.name(), problem };
    let mut input = File::open(path).map_err(rerr)?;
    let copy = NamedTempFile::new().map_err(werr)?;
    let mut out = BufWriter::with_capacity(CHUNK, copy.as_file());
    let mut src = vec![0u8; CHUNK];
    let mut dst = vec![0u8; 3 * CHUNK + 16];
    let mut decoder: Option<Decoder> = match encoding {
        TextEncoding::Windows1252 => Some(WINDOWS_1252.new_decoder_without_bom_handling()),
        _ => None,
    };
    let mut offset = 0u64;
    let mut first = true;
    loop {
        let n = read_full(&mut input, &mut src).map_err(rerr)?;
        let mut chunk = &src[..n];
        if first && encoding == TextEncoding::Utf16 {
            let (d, skip) = match chunk {
                [0xFF, 0xFE, ..] => (UTF_16LE.new_decoder_without_bom_handling(), 2),
                [0xFE, 0xFF, ..] => (UTF_16BE.new_decoder_without_bom_handling(), 2),
                _ => {
                    return Err(fail(
                        "expected a UTF-16 byte-order mark (bytes FF FE or FE FF) at the start of the file; without \
                         one the byte order is unknown. Save it as UTF-8 or as UTF-16 with a byte-order mark"
                            .into(),
                    ));
                }
            };
            decoder = Some(d);
            chunk = &chunk[skip..];
            offset += skip as u64;
        }
        first = false;
        let last = n < src.len();
        let written = match decoder.as_mut() {
            None => encoding_rs::mem::convert_latin1_to_utf8(chunk, &mut dst),
            Some(d) => {
                let (result, read, written) = d.decode_to_utf8_without_replacement(chunk, &mut dst, last);
                match result {
                    DecoderResult::InputEmpty => written,
                    DecoderResult::Malformed(bad, after) => {
                        let at = offset + read as u64 - u64::from(bad) - u64::from(after);
                        return Err(fail(format!(
                            "the bytes at offset {at} are not valid {} (an unpaired surrogate or a cut-off \
                             character)",
                            encoding.name()
                        )));
                    }
                    DecoderResult::OutputFull => {
                        return Err(IngestError::Internal("the decoding buffer was too small".into()));
                    }
                }
            }
        };
        out.write_all(&dst[..written]).map_err(werr)?;
        offset += chunk.len() as u64;
        if last {
            break;
        }
    }
    out.flush().map_err(werr)?;
    drop(out);
    Ok(Some(copy))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(bytes: &[u8], encoding: TextEncoding) -> Result<String> {
        let dir = tempfile::tempdir().map_err(|e| IngestError::Internal(e.to_string()))?;
        let p = dir.path().join("f.csv");
        std::fs::write(&p, bytes).map_err(|e| IngestError::Internal(e.to_string()))?;
        let copy = to_utf8(&p, encoding)?.ok_or_else(|| IngestError::Internal("no copy".into()))?;
        std::fs::read_to_string(copy.path()).map_err(|e| IngestError::Internal(e.to_string()))
    }

    #[test]
    fn windows_1252_latin_1_and_utf_16_decode_to_the_same_text() -> Result<()> {
        // "Zoë;€" as Excel on Windows writes it, and as ISO-8859-1 reads the same bytes.
        assert_eq!(decoded(b"Zo\xEB;\x80\n", TextEncoding::Windows1252)?, "Zoë;€\n");
        assert_eq!(decoded(b"Zo\xEB;\x80\n", TextEncoding::Latin1)?, "Zoë;\u{80}\n");
        let le: Vec<u8> = [0xFF, 0xFE].into_iter().chain("Zoë;€\n".encode_utf16().flat_map(u16::to_le_bytes)).collect();
        let be: Vec<u8> = [0xFE, 0xFF].into_iter().chain("Zoë;€\n".encode_utf16().flat_map(u16::to_be_bytes)).collect();
        assert_eq!(decoded(&le, TextEncoding::Utf16)?, "Zoë;€\n");
        assert_eq!(decoded(&be, TextEncoding::Utf16)?, "Zoë;€\n");
        Ok(())
    }

    #[test]
    fn a_chunk_boundary_inside_a_character_is_decoded_whole() -> Result<()> {
        // One UTF-16 code unit straddles the first chunk's end (the mark takes 2 bytes).
        let text: String = "é".repeat(CHUNK / 2 + 3);
        let bytes: Vec<u8> = [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect();
        assert_eq!(decoded(&bytes, TextEncoding::Utf16)?, text);
        Ok(())
    }

    #[test]
    fn utf_16_without_a_mark_or_with_a_lone_surrogate_is_an_error_naming_the_offset() {
        let e = decoded(b"a\0b\0", TextEncoding::Utf16).map(|_| ()).expect_err("no mark");
        assert!(e.to_string().contains("byte-order mark"), "{e}");
        let e =
            decoded(&[0xFF, 0xFE, b'a', 0, 0x00, 0xD8, b'b', 0], TextEncoding::Utf16).map(|_| ()).expect_err("lone");
        assert!(e.to_string().contains("offset 4"), "{e}");
    }
}
