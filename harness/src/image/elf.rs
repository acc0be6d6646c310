//! Which C library an ELF binary was linked against, from its program interpreter
//! (`PT_INTERP`): `ld-musl-*` is musl, `ld-linux-*` glibc. Reads only the headers.

/// The C library a binary uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Libc {
    /// glibc: SIGRTMIN is 34, so SIGRTMIN+3 is 37.
    Glibc,
    /// musl: SIGRTMIN is 35, so SIGRTMIN+3 is 38.
    Musl,
    /// Static, not ELF, or not readable: the binary does not say.
    Unknown,
}

/// `PT_INTERP` in a program header.
const PT_INTERP: u32 = 3;

/// The program interpreter of a 64-bit little-endian ELF binary, if it has one.
pub fn interpreter(bytes: &[u8]) -> Option<String> {
    if bytes.get(..4)? != b"\x7fELF" || *bytes.get(4)? != 2 || *bytes.get(5)? != 1 {
        return None;
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| {
        let value = u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?);
        usize::try_from(value).ok()
    };
    let phoff = u64_at(0x20)?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    (0..phnum).find_map(|i| {
        let header = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(header)? != PT_INTERP {
            return None;
        }
        let (offset, size) = (u64_at(header + 8)?, u64_at(header + 32)?);
        let text = bytes.get(offset..offset.checked_add(size)?)?;
        Some(
            String::from_utf8_lossy(text)
                .trim_end_matches('\0')
                .to_owned(),
        )
    })
}

/// The C library named by an interpreter path.
pub fn libc_of_interpreter(interpreter: &str) -> Libc {
    let base = interpreter.rsplit('/').next().unwrap_or(interpreter);
    if base.starts_with("ld-musl-") {
        Libc::Musl
    } else if base.starts_with("ld-linux") {
        Libc::Glibc
    } else {
        Libc::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_binary_names_its_glibc_loader() {
        let exe = std::env::current_exe().expect("current exe");
        let bytes = std::fs::read(exe).expect("read");
        let interp = interpreter(&bytes).expect("a dynamic test binary has PT_INTERP");
        assert!(interp.contains("ld-linux"), "{interp}");
        assert_eq!(libc_of_interpreter(&interp), Libc::Glibc);
        assert_eq!(libc_of_interpreter("/lib/ld-musl-x86_64.so.1"), Libc::Musl);
        assert_eq!(interpreter(b"#!/bin/sh\n"), None);
    }
}
