//! Just enough of the tar format (POSIX ustar) for `kubectl cp`-style transfers: the header
//! of the one file an upload sends, and reading the one file a download receives.
//!
//! A tar stream is 512-byte blocks: a header (name, octal mode/size/mtime, checksum, type),
//! the file's bytes padded to a block, and two zero blocks at the end.

use tokio::io::{AsyncRead, AsyncReadExt};

pub const BLOCK: usize = 512;

/// The header of a regular file `name` (no slash, under 100 bytes) of `size` bytes, mode 0644.
pub fn file_header(name: &str, size: u64, mtime: u64) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    let name = name.as_bytes();
    h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    octal(&mut h[148..155], sum as u64);
    h[155] = b' ';
    h
}

/// Zero padding after `size` bytes of data, up to the next block.
pub fn padding(size: u64) -> usize {
    (BLOCK - (size % BLOCK as u64) as usize) % BLOCK
}

fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let s = format!("{value:0width$o}");
    field[..width].copy_from_slice(&s.as_bytes()[s.len() - width..]);
    field[width] = 0;
}

/// What a header says.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub size: u64,
    /// `b'0'` (or 0) regular file, `b'5'` directory, `b'2'` symlink, ...
    pub kind: u8,
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    // NB: GNU tar writes sizes over 8 GiB in base-256 (high bit set).
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        return Some(
            field[1..]
                .iter()
                .fold(0u64, |acc, &b| (acc << 8) | b as u64),
        );
    }
    let s: String = field
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| b as char)
        .collect();
    let s = s.trim();
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

/// Reads headers until the first file entry, skipping pax and GNU long-name records. `Ok(None)`
/// at the end of the archive.
pub async fn next_entry<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<Entry>> {
    let mut long_name: Option<String> = None;
    loop {
        let mut h = [0u8; BLOCK];
        r.read_exact(&mut h).await?;
        if h.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        let size = parse_octal(&h[124..136])
            .ok_or_else(|| std::io::Error::other("a tar header with a bad size"))?;
        let kind = h[156];
        match kind {
            // pax headers (x, g) and GNU long names (L, K) precede the real header.
            b'x' | b'g' | b'L' | b'K' => {
                let mut data = vec![0u8; size as usize + padding(size)];
                r.read_exact(&mut data).await?;
                if kind == b'L' {
                    long_name = Some(
                        String::from_utf8_lossy(&data[..size as usize])
                            .trim_end_matches('\0')
                            .to_string(),
                    );
                }
            }
            _ => {
                let name = long_name.take().unwrap_or_else(|| {
                    String::from_utf8_lossy(&h[..100])
                        .trim_end_matches('\0')
                        .to_string()
                });
                return Ok(Some(Entry { name, size, kind }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_header_we_write_reads_back_and_system_tar_accepts_it() {
        let data = b"hello tar\n";
        let mut archive = file_header("greeting.txt", data.len() as u64, 1_700_000_000).to_vec();
        archive.extend_from_slice(data);
        archive.extend(std::iter::repeat_n(
            0u8,
            padding(data.len() as u64) + 2 * BLOCK,
        ));
        let mut r = &archive[..];
        let e = next_entry(&mut r).await.unwrap().unwrap();
        assert_eq!(
            e,
            Entry {
                name: "greeting.txt".into(),
                size: 10,
                kind: b'0'
            }
        );

        // The system's tar (what containers run) lists it without complaint.
        let dir = std::env::temp_dir().join(format!("wharf-tar-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.tar");
        std::fs::write(&file, &archive).unwrap();
        let out = std::process::Command::new("tar")
            .arg("xf")
            .arg(&file)
            .arg("-C")
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read(dir.join("greeting.txt")).unwrap(), data);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn padding_fills_to_the_block() {
        assert_eq!(padding(0), 0);
        assert_eq!(padding(1), 511);
        assert_eq!(padding(512), 0);
        assert_eq!(padding(513), 511);
    }
}
