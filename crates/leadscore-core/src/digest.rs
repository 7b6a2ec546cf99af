//! Content digests and deterministic identifiers (SHA-256).

use sha2::{Digest, Sha256};

/// SHA-256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A deterministic identifier from parts: the first 16 bytes (32 hex digits) of the SHA-256 of the
/// parts joined by a unit separator (0x1F), so `("ab", "c")` and `("a", "bc")` differ.
pub fn stable_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update([0x1f]);
        }
        h.update(p.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// The build of the running program: the SHA-256 of its executable file (computed once per
/// process), so a rebuilt binary whose code changed never counts as the build that wrote a
/// manifest. Falls back to the version when the executable cannot be read.
pub fn build_id() -> &'static str {
    static BUILD: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUILD.get_or_init(|| {
        std::env::current_exe()
            .ok()
            .and_then(|exe| crate::io::hash_file(&exe).ok())
            .map_or_else(|| format!("version {}", crate::io::VERSION), |(h, _)| h)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector_and_separation() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_ne!(stable_id(&["ab", "c"]), stable_id(&["a", "bc"]));
        assert_eq!(stable_id(&["x", "y"]), stable_id(&["x", "y"]));
        assert_eq!(stable_id(&["x"]).len(), 32);
    }
}
