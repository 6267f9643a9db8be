//! Signed plugins: who may make this host run a component. An operator signs
//! a component with an ed25519 key (`enricher plugin sign`); hosts configured
//! with trusted public keys (`deploy.trusted-keys`) refuse any component whose
//! signature is missing or verifies under none of them, whichever way it
//! arrives (admin API, fleet topic, watched folder, `--plugin` at start).
//!
//! Formats, all readable by OpenSSL:
//! - private key: PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, what
//!   `openssl genpkey -algorithm ed25519` writes);
//! - public key: SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`,
//!   `openssl pkey -pubout`);
//! - signature: ed25519 (pure, RFC 8032) over the component's bytes, written
//!   as one line of base64; the raw 64 bytes (`openssl pkeyutl -sign -rawin`)
//!   are read too. The same base64 text travels in the API's
//!   [`SIGNATURE_HEADER`] and in the fleet record's `signature` header.
//!
//! The signature covers the component only: the deploy name and the fleet's
//! `active` record are not signed, so whoever can write to the topic can still
//! choose among versions that were signed, never run one that was not.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SIGNATURE_LENGTH, Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

pub use ed25519_dalek::{SigningKey as PrivateKey, VerifyingKey as PublicKey};

/// The admin API's request header carrying a deploy's signature (base64).
pub const SIGNATURE_HEADER: &str = "x-enricher-signature";

/// Why a key, a signature or a component was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("key file {path}: {why}")]
    Key { path: PathBuf, why: String },
    #[error("the signature is not readable: {0}")]
    Malformed(String),
    #[error(
        "the component is not signed, and this host runs only components signed by a trusted key \
         (deploy.trusted-keys): sign it with `enricher plugin sign`"
    )]
    Missing,
    #[error(
        "the component's signature verifies under none of the {0} trusted key(s) \
         (deploy.trusted-keys): signed by another key, or the component was changed after signing"
    )]
    Untrusted(usize),
}

/// A private key and the public key it goes with.
pub fn generate_key() -> Result<SigningKey, String> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("no randomness from the OS: {e}"))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The PEM texts of a private key (PKCS#8) and its public key (SPKI).
pub fn key_pems(key: &SigningKey) -> Result<(String, String), String> {
    let line = ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF;
    let private = key.to_pkcs8_pem(line).map_err(|e| e.to_string())?;
    let public = key
        .verifying_key()
        .to_public_key_pem(line)
        .map_err(|e| e.to_string())?;
    Ok((private.to_string(), public))
}

/// Read a private key file (PKCS#8 PEM).
pub fn read_private_key(path: &Path) -> Result<SigningKey, SignatureError> {
    let bad = |why: String| SignatureError::Key {
        path: path.to_owned(),
        why,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    SigningKey::from_pkcs8_pem(&text).map_err(|e| {
        bad(format!(
            "not an ed25519 private key in PKCS#8 PEM (-----BEGIN PRIVATE KEY-----): {e}"
        ))
    })
}

/// Parse a public key (SPKI PEM).
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    VerifyingKey::from_public_key_pem(text)
        .map_err(|e| format!("not an ed25519 public key in PEM (-----BEGIN PUBLIC KEY-----): {e}"))
}

/// A short name of a public key for logs and `plugin list`:
/// `ed25519:` and the first 16 hex digits of the SHA-256 of its 32 bytes.
pub fn fingerprint(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("ed25519:{hex}")
}

/// Sign a component; the answer is the base64 text a `.sig` file holds.
pub fn sign(key: &SigningKey, component: &[u8]) -> String {
    BASE64.encode(key.sign(component).to_bytes())
}

/// Read a signature: the raw 64 bytes, or base64 text (surrounding whitespace ignored).
pub fn parse_signature(bytes: &[u8]) -> Result<Signature, SignatureError> {
    if bytes.len() == SIGNATURE_LENGTH {
        return Signature::from_slice(bytes).map_err(|e| SignatureError::Malformed(e.to_string()));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| SignatureError::Malformed("neither 64 bytes nor base64 text".into()))?;
    let raw = BASE64
        .decode(text.trim())
        .map_err(|e| SignatureError::Malformed(format!("bad base64: {e}")))?;
    Signature::from_slice(&raw).map_err(|_| {
        SignatureError::Malformed(format!(
            "{} bytes, an ed25519 signature is {SIGNATURE_LENGTH}",
            raw.len()
        ))
    })
}

/// A signature as the base64 text the fleet record and the API carry, if it is readable.
pub fn normalize_signature(signature: &[u8]) -> Option<String> {
    parse_signature(signature)
        .ok()
        .map(|s| BASE64.encode(s.to_bytes()))
}

/// Where a component's detached signature is looked for: `<file>.sig`.
pub fn signature_path(component: &Path) -> PathBuf {
    let mut name = component.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

/// The public keys this host trusts; empty means components are not checked.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: Vec<VerifyingKey>,
}

impl TrustedKeys {
    /// Read each public key file (SPKI PEM; one key per file).
    pub fn load(paths: &[PathBuf]) -> Result<Self, SignatureError> {
        let keys = paths
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path).map_err(|e| SignatureError::Key {
                    path: path.clone(),
                    why: e.to_string(),
                })?;
                parse_public_key(&text).map_err(|why| SignatureError::Key {
                    path: path.clone(),
                    why,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    pub fn from_keys(keys: Vec<VerifyingKey>) -> Self {
        Self { keys }
    }

    /// Whether components must be signed.
    pub fn required(&self) -> bool {
        !self.keys.is_empty()
    }

    pub fn fingerprints(&self) -> Vec<String> {
        self.keys.iter().map(fingerprint).collect()
    }

    /// Check `component` against its `signature`. `Ok(None)` when no key is
    /// configured (nothing checked), `Ok(Some(fingerprint))` of the key it
    /// verifies under, else why it is refused. Strict verification: no
    /// malleable or small-order signatures.
    pub fn verify(
        &self,
        component: &[u8],
        signature: Option<&[u8]>,
    ) -> Result<Option<String>, SignatureError> {
        if !self.required() {
            return Ok(None);
        }
        let signature = parse_signature(signature.ok_or(SignatureError::Missing)?)?;
        self.keys
            .iter()
            .find(|key| key.verify_strict(component, &signature).is_ok())
            .map(|key| Some(fingerprint(key)))
            .ok_or(SignatureError::Untrusted(self.keys.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        generate_key().expect("randomness")
    }

    #[test]
    fn a_signed_component_verifies_under_its_key_only() {
        let (mine, other) = (key(), key());
        let trusted = TrustedKeys::from_keys(vec![other.verifying_key(), mine.verifying_key()]);
        let component = b"\0asm component bytes";
        let sig = sign(&mine, component);
        assert_eq!(
            trusted.verify(component, Some(sig.as_bytes())),
            Ok(Some(fingerprint(&mine.verifying_key())))
        );
        let only_other = TrustedKeys::from_keys(vec![other.verifying_key()]);
        assert_eq!(
            only_other.verify(component, Some(sig.as_bytes())),
            Err(SignatureError::Untrusted(1))
        );
        let changed = b"\0asm component bytez";
        assert_eq!(
            trusted.verify(changed, Some(sig.as_bytes())),
            Err(SignatureError::Untrusted(2))
        );
        assert_eq!(
            trusted.verify(component, None),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn no_trusted_keys_checks_nothing() {
        let none = TrustedKeys::default();
        assert!(!none.required());
        assert_eq!(none.verify(b"anything", None), Ok(None));
        assert_eq!(none.verify(b"anything", Some(b"junk")), Ok(None));
    }

    #[test]
    fn signatures_are_read_as_base64_text_or_raw_bytes() {
        let k = key();
        let text = sign(&k, b"c");
        let raw = k.sign(b"c").to_bytes();
        let trusted = TrustedKeys::from_keys(vec![k.verifying_key()]);
        let with_newline = format!("  {text}\n");
        for sig in [text.as_bytes(), &raw[..], with_newline.as_bytes()] {
            assert!(trusted.verify(b"c", Some(sig)).is_ok());
        }
        assert!(matches!(
            parse_signature(b"not base64!"),
            Err(SignatureError::Malformed(m)) if m.contains("base64")
        ));
        assert!(matches!(
            parse_signature(BASE64.encode([1u8; 10]).as_bytes()),
            Err(SignatureError::Malformed(m)) if m.contains("10 bytes")
        ));
    }

    #[test]
    fn key_files_round_trip_as_pem_and_bad_ones_are_named() {
        let dir = std::env::temp_dir().join(format!("enricher-sig-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let k = key();
        let (private, public) = key_pems(&k).expect("pem");
        assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
        let (priv_path, pub_path) = (dir.join("k.key"), dir.join("k.pub"));
        std::fs::write(&priv_path, &private).expect("write");
        std::fs::write(&pub_path, &public).expect("write");
        let read = read_private_key(&priv_path).expect("private key reads back");
        assert_eq!(read.to_bytes(), k.to_bytes());
        let trusted = TrustedKeys::load(std::slice::from_ref(&pub_path)).expect("public key");
        assert_eq!(
            trusted.fingerprints(),
            vec![fingerprint(&k.verifying_key())]
        );
        // A private key where a public one belongs, and a missing file, name the file.
        match TrustedKeys::load(std::slice::from_ref(&priv_path)) {
            Err(SignatureError::Key { path, why }) => {
                assert_eq!(path, priv_path);
                assert!(why.contains("BEGIN PUBLIC KEY"), "{why}");
            }
            other => panic!("expected a key error, got {other:?}"),
        }
        let missing = dir.join("missing.pub");
        assert!(matches!(
            TrustedKeys::load(std::slice::from_ref(&missing)),
            Err(SignatureError::Key { path, .. }) if path == missing
        ));
        assert!(read_private_key(&pub_path).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_signature_file_sits_beside_the_component() {
        assert_eq!(
            signature_path(Path::new("/p/v2.wasm")),
            PathBuf::from("/p/v2.wasm.sig")
        );
    }
}
