//! A PNG encoder for 8-bit RGB images (what plotters' bitmap backend draws), on flate2.
//!
//! plotters' own encoder goes through the `image` crate, whose `png` → `fdeflate`
//! dependency would change the features of a crate polars is built with (a long
//! rebuild); the format is small enough to write here.

use std::io::Write;

use flate2::write::ZlibEncoder;
use flate2::{Compression, Crc};

const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// `rgb` (rows of `width` RGB triples, top to bottom) as a PNG file.
///
/// Each row gets the filter (None, Sub or Up) with the smallest sum of absolute
/// residuals, the usual heuristic; charts are mostly flat colour and compress well.
pub fn encode_rgb(width: u32, height: u32, rgb: &[u8]) -> Vec<u8> {
    let stride = width as usize * 3;
    assert_eq!(rgb.len(), stride * height as usize, "RGB buffer size");

    let mut filtered = Vec::with_capacity((stride + 1) * height as usize);
    let zero_row = vec![0u8; stride];
    let mut candidates = [vec![0u8; stride], vec![0u8; stride], vec![0u8; stride]];
    for y in 0..height as usize {
        let row = &rgb[y * stride..(y + 1) * stride];
        let above = if y == 0 {
            &zero_row[..]
        } else {
            &rgb[(y - 1) * stride..y * stride]
        };
        for i in 0..stride {
            let left = if i >= 3 { row[i - 3] } else { 0 };
            candidates[0][i] = row[i];
            candidates[1][i] = row[i].wrapping_sub(left);
            candidates[2][i] = row[i].wrapping_sub(above[i]);
        }
        let cost = |c: &[u8]| {
            c.iter()
                .map(|&b| u64::from((b as i8).unsigned_abs()))
                .sum::<u64>()
        };
        let best = (0..3).min_by_key(|&f| cost(&candidates[f])).unwrap_or(0);
        filtered.push(best as u8); // 0 None, 1 Sub, 2 Up
        filtered.extend_from_slice(&candidates[best]);
    }

    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    z.write_all(&filtered).expect("writing to memory");
    let idat = z.finish().expect("writing to memory");

    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    // bit depth 8, colour type 2 (RGB), compression 0, filter 0, no interlace
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);

    let mut png = Vec::with_capacity(idat.len() + 64);
    png.extend_from_slice(&SIGNATURE);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &idat);
    chunk(&mut png, b"IEND", &[]);
    png
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

/// A decoder for what [`encode_rgb`] writes and other non-interlaced 8-bit RGB or RGBA
/// PNGs (browser screenshots): width, height and the RGB rows (alpha dropped). For
/// tests and checks, not for arbitrary files.
pub fn decode_rgb(png: &[u8]) -> Result<(u32, u32, Vec<u8>), String> {
    use std::io::Read;
    if png.len() < 8 || png[..8] != SIGNATURE {
        return Err("not a PNG signature".into());
    }
    let (mut width, mut height, mut bpp) = (0u32, 0u32, 3usize);
    let mut idat = Vec::new();
    let mut pos = 8;
    while pos + 12 <= png.len() {
        let len = u32::from_be_bytes(png[pos..pos + 4].try_into().unwrap()) as usize;
        let kind = &png[pos + 4..pos + 8];
        let data = png.get(pos + 8..pos + 8 + len).ok_or("truncated chunk")?;
        let stored = png
            .get(pos + 8 + len..pos + 12 + len)
            .ok_or("truncated CRC")?;
        let mut crc = Crc::new();
        crc.update(kind);
        crc.update(data);
        if crc.sum().to_be_bytes() != stored {
            return Err(format!("bad CRC in {}", String::from_utf8_lossy(kind)));
        }
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(data[0..4].try_into().unwrap());
                height = u32::from_be_bytes(data[4..8].try_into().unwrap());
                bpp = match data[8..13] {
                    [8, 2, 0, 0, 0] => 3,
                    [8, 6, 0, 0, 0] => 4,
                    _ => return Err("only 8-bit RGB or RGBA, non-interlaced".into()),
                };
            }
            b"IDAT" => idat.extend_from_slice(data),
            b"IEND" => break,
            _ => {}
        }
        pos += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .map_err(|e| format!("IDAT: {e}"))?;
    let stride = width as usize * 3;
    if raw.len() != (stride + 1) * height as usize {
        return Err(format!("IDAT has {} bytes for {width}×{height}", raw.len()));
    }
    let mut out = vec![0u8; stride * height as usize];
    for y in 0..height as usize {
        let filter = raw[y * (stride + 1)];
        let line = &raw[y * (stride + 1) + 1..(y + 1) * (stride + 1)];
        for i in 0..stride {
            let left = if i >= 3 { out[y * stride + i - 3] } else { 0 };
            let up = if y > 0 { out[(y - 1) * stride + i] } else { 0 };
            let up_left = if y > 0 && i >= 3 {
                out[(y - 1) * stride + i - 3]
            } else {
                0
            };
            out[y * stride + i] = match filter {
                0 => line[i],
                1 => line[i].wrapping_add(left),
                2 => line[i].wrapping_add(up),
                3 => line[i].wrapping_add(((u16::from(left) + u16::from(up)) / 2) as u8),
                4 => line[i].wrapping_add(paeth(left, up, up_left)),
                f => return Err(format!("unknown filter {f}")),
            };
        }
    }
    if bpp == 4 {
        out = out.chunks(4).flat_map(|px| [px[0], px[1], px[2]]).collect();
    }
    Ok((width, height, out))
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_pixels_through_every_filter() {
        let (w, h) = (37u32, 23u32);
        let mut rgb = Vec::new();
        for y in 0..h {
            for x in 0..w {
                // Flat areas, gradients and noise, so all three filters get chosen.
                let noise = ((x * 7919 + y * 104_729) % 251) as u8;
                rgb.extend_from_slice(&[
                    if y < 8 { 255 } else { (x * 6) as u8 },
                    if x < 10 { 30 } else { noise },
                    (y * 11) as u8,
                ]);
            }
        }
        let png = encode_rgb(w, h, &rgb);
        assert_eq!(&png[..8], &SIGNATURE);
        let (dw, dh, back) = decode_rgb(&png).unwrap();
        assert_eq!((dw, dh), (w, h));
        assert_eq!(back, rgb);
    }

    #[test]
    fn flat_images_compress() {
        let rgb = vec![255u8; 640 * 320 * 3];
        let png = encode_rgb(640, 320, &rgb);
        assert!(png.len() < 4096, "{} bytes", png.len());
    }

    #[test]
    fn corrupt_files_are_refused() {
        let mut png = encode_rgb(2, 2, &[0u8; 12]);
        let n = png.len();
        png[n - 20] ^= 0xff;
        assert!(decode_rgb(&png).is_err());
        assert!(decode_rgb(b"GIF89a").is_err());
    }
}
