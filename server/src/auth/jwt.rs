//! etcd's `jwt` tokens (`server/auth/jwt.go`, `options.go`): signed JSON
//! Web Tokens with the claims `username`, `revision` (the auth revision at
//! authentication) and `exp`. Any member with the key verifies any token,
//! so nothing is kept per token; an auth change makes every outstanding
//! token "old" through its revision claim.
//!
//! Keys as etcd reads them: `priv-key` (PKCS#8, or PKCS#1 for RSA, or SEC1
//! for EC) signs, and its public half verifies; with `pub-key` alone
//! (SPKI, PKCS#1 RSA public key or a certificate) the member only verifies
//! and Authenticate fails. HMAC methods use the `priv-key` file's bytes as
//! the secret. Signing and verifying use `ring` (already the TLS provider).
//! ES512 is refused: ring has no P-521.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::SystemRandom;
use ring::signature::{self, KeyPair};
use ring::{hmac, rand::SecureRandom};

/// The signing methods etcd accepts (golang-jwt's names) that this build has.
const METHODS: &[&str] =
    &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "HS256", "HS384", "HS512"];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtConfigError {
    #[error("auth: invalid auth options")]
    InvalidOptions,
    #[error("auth: missing key data")]
    MissingKey,
    #[error("auth: public and private keys don't match")]
    KeyMismatch,
    #[error("auth-token jwt: sign-method {0} is not supported by capstan (ring has no P-521); use ES256 or ES384")]
    Unsupported(String),
    #[error("auth-token jwt: {0}")]
    BadKey(String),
}

enum Signer {
    Rsa(signature::RsaKeyPair, &'static dyn signature::RsaEncoding),
    Ecdsa(signature::EcdsaKeyPair),
    Ed25519(signature::Ed25519KeyPair),
    Hmac(hmac::Key),
}

enum Verifier {
    Public(&'static dyn signature::VerificationAlgorithm, Vec<u8>),
    Hmac(hmac::Key),
}

pub struct JwtTokens {
    method: &'static str,
    ttl: Duration,
    signer: Option<Signer>,
    verifier: Verifier,
    rng: SystemRandom,
}

impl std::fmt::Debug for JwtTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtTokens").field("method", &self.method).field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

/// The claims of a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub username: String,
    pub revision: u64,
}

impl JwtTokens {
    /// Builds the provider from `--auth-token`'s options (`sign-method`,
    /// `pub-key`, `priv-key`, `ttl`; unknown ones are ignored as etcd does).
    pub fn from_options(opts: &BTreeMap<String, String>) -> Result<Self, JwtConfigError> {
        let get = |k: &str| opts.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let ttl = match get("ttl") {
            Some(t) => crate::config::parse_go_duration(t).map_err(|_| JwtConfigError::InvalidOptions)?,
            None => Duration::from_secs(300),
        };
        let read = |k: &str| -> Result<Option<Vec<u8>>, JwtConfigError> {
            get(k).map(|path| std::fs::read(path).map_err(|_| JwtConfigError::InvalidOptions)).transpose()
        };
        let (public, private) = (read("pub-key")?, read("priv-key")?);
        let method_name = get("sign-method").unwrap_or("");
        if method_name == "ES512" {
            return Err(JwtConfigError::Unsupported(method_name.into()));
        }
        let method = *METHODS.iter().find(|m| **m == method_name).ok_or(JwtConfigError::InvalidOptions)?;
        let rng = SystemRandom::new();
        let (signer, verifier) = keys(method, public.as_deref(), private.as_deref(), &rng)?;
        Ok(JwtTokens { method, ttl, signer, verifier, rng })
    }

    pub fn can_sign(&self) -> bool {
        self.signer.is_some()
    }

    /// A token for `username` authenticated at auth revision `revision`.
    pub fn sign(&self, username: &str, revision: u64, now: SystemTime) -> Option<String> {
        let signer = self.signer.as_ref()?;
        let exp = now.duration_since(UNIX_EPOCH).unwrap_or_default().saturating_add(self.ttl).as_secs();
        // golang-jwt marshals MapClaims with sorted keys.
        let claims = serde_json::json!({ "exp": exp, "revision": revision, "username": username });
        let header = serde_json::json!({ "alg": self.method, "typ": "JWT" });
        let signing_input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
        let sig = match signer {
            Signer::Rsa(key, encoding) => {
                let mut sig = vec![0; key.public().modulus_len()];
                key.sign(*encoding, &self.rng, signing_input.as_bytes(), &mut sig).ok()?;
                sig
            }
            Signer::Ecdsa(key) => key.sign(&self.rng, signing_input.as_bytes()).ok()?.as_ref().to_vec(),
            Signer::Ed25519(key) => key.sign(signing_input.as_bytes()).as_ref().to_vec(),
            Signer::Hmac(key) => hmac::sign(key, signing_input.as_bytes()).as_ref().to_vec(),
        };
        Some(format!("{signing_input}.{}", B64.encode(sig)))
    }

    /// The claims of `token` if its signature, method and expiry are good.
    pub fn verify(&self, token: &str, now: SystemTime) -> Option<Claims> {
        let (signing_input, sig) = token.rsplit_once('.')?;
        let (header, claims) = signing_input.split_once('.')?;
        let header: serde_json::Value = serde_json::from_slice(&B64.decode(header).ok()?).ok()?;
        if header.get("alg")?.as_str()? != self.method {
            return None;
        }
        let sig = B64.decode(sig).ok()?;
        let good = match &self.verifier {
            Verifier::Public(alg, key) => {
                signature::UnparsedPublicKey::new(*alg, key).verify(signing_input.as_bytes(), &sig).is_ok()
            }
            Verifier::Hmac(key) => hmac::verify(key, signing_input.as_bytes(), &sig).is_ok(),
        };
        if !good {
            return None;
        }
        let claims: serde_json::Value = serde_json::from_slice(&B64.decode(claims).ok()?).ok()?;
        if let Some(exp) = claims.get("exp") {
            let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
            if exp.as_f64()? <= now {
                return None;
            }
        }
        let username = claims.get("username")?.as_str()?.to_owned();
        let revision = claims.get("revision")?.as_f64()? as u64;
        Some(Claims { username, revision })
    }
}

/// The signer (if there is a private key) and the verifier for `method`.
fn keys(
    method: &'static str,
    public: Option<&[u8]>,
    private: Option<&[u8]>,
    rng: &dyn SecureRandom,
) -> Result<(Option<Signer>, Verifier), JwtConfigError> {
    if let Some(alg) = hmac_algorithm(method) {
        let secret = private.filter(|k| !k.is_empty()).ok_or(JwtConfigError::MissingKey)?;
        let key = hmac::Key::new(alg, secret);
        return Ok((Some(Signer::Hmac(key.clone())), Verifier::Hmac(key)));
    }
    let verify_alg = verification_algorithm(method);
    let public = public.map(public_key_der).transpose()?;
    let Some(private) = private else {
        let public = public.ok_or(JwtConfigError::MissingKey)?;
        return Ok((None, Verifier::Public(verify_alg, public)));
    };
    let signer = signer(method, private, rng)?;
    let derived = match &signer {
        Signer::Rsa(k, _) => k.public_key().as_ref().to_vec(),
        Signer::Ecdsa(k) => k.public_key().as_ref().to_vec(),
        Signer::Ed25519(k) => k.public_key().as_ref().to_vec(),
        Signer::Hmac(_) => unreachable!("HMAC handled above"),
    };
    if public.is_some_and(|p| p != derived) {
        return Err(JwtConfigError::KeyMismatch);
    }
    Ok((Some(signer), Verifier::Public(verify_alg, derived)))
}

fn hmac_algorithm(method: &str) -> Option<hmac::Algorithm> {
    match method {
        "HS256" => Some(hmac::HMAC_SHA256),
        "HS384" => Some(hmac::HMAC_SHA384),
        "HS512" => Some(hmac::HMAC_SHA512),
        _ => None,
    }
}

fn verification_algorithm(method: &str) -> &'static dyn signature::VerificationAlgorithm {
    match method {
        "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
        "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
        "RS512" => &signature::RSA_PKCS1_2048_8192_SHA512,
        "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
        "PS384" => &signature::RSA_PSS_2048_8192_SHA384,
        "PS512" => &signature::RSA_PSS_2048_8192_SHA512,
        "ES256" => &signature::ECDSA_P256_SHA256_FIXED,
        "ES384" => &signature::ECDSA_P384_SHA384_FIXED,
        _ => &signature::ED25519,
    }
}

fn signer(method: &str, pem_text: &[u8], rng: &dyn SecureRandom) -> Result<Signer, JwtConfigError> {
    let block = pem::parse(pem_text).map_err(|e| JwtConfigError::BadKey(format!("priv-key: {e}")))?;
    let der = block.contents();
    let bad = |e: ring::error::KeyRejected| JwtConfigError::BadKey(format!("priv-key ({}): {e}", block.tag()));
    match method {
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => {
            let key = match block.tag() {
                "RSA PRIVATE KEY" => signature::RsaKeyPair::from_der(der),
                _ => signature::RsaKeyPair::from_pkcs8(der),
            }
            .map_err(bad)?;
            let encoding: &'static dyn signature::RsaEncoding = match method {
                "RS256" => &signature::RSA_PKCS1_SHA256,
                "RS384" => &signature::RSA_PKCS1_SHA384,
                "RS512" => &signature::RSA_PKCS1_SHA512,
                "PS256" => &signature::RSA_PSS_SHA256,
                "PS384" => &signature::RSA_PSS_SHA384,
                _ => &signature::RSA_PSS_SHA512,
            };
            Ok(Signer::Rsa(key, encoding))
        }
        "ES256" | "ES384" => {
            let (alg, curve_oid): (&'static signature::EcdsaSigningAlgorithm, &[u8]) = if method == "ES256" {
                (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, P256_OID)
            } else {
                (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, P384_OID)
            };
            let pkcs8 = match block.tag() {
                "EC PRIVATE KEY" => sec1_to_pkcs8(der, curve_oid),
                _ => der.to_vec(),
            };
            Ok(Signer::Ecdsa(signature::EcdsaKeyPair::from_pkcs8(alg, &pkcs8, rng).map_err(bad)?))
        }
        _ => Ok(Signer::Ed25519(signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(bad)?)),
    }
}

/// The key bits of a public key in PEM: SPKI (`PUBLIC KEY`), PKCS#1
/// (`RSA PUBLIC KEY`) or a certificate's (etcd's tests use a server
/// certificate as `pub-key`).
fn public_key_der(pem_text: &[u8]) -> Result<Vec<u8>, JwtConfigError> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    use x509_parser::x509::SubjectPublicKeyInfo;
    let bad = |what: String| JwtConfigError::BadKey(format!("pub-key: {what}"));
    let block = pem::parse(pem_text).map_err(|e| bad(e.to_string()))?;
    match block.tag() {
        "RSA PUBLIC KEY" => Ok(block.contents().to_vec()),
        "CERTIFICATE" => {
            let (_, cert) = X509Certificate::from_der(block.contents()).map_err(|e| bad(e.to_string()))?;
            Ok(cert.public_key().subject_public_key.data.to_vec())
        }
        _ => {
            let (_, spki) = SubjectPublicKeyInfo::from_der(block.contents()).map_err(|e| bad(e.to_string()))?;
            Ok(spki.subject_public_key.data.to_vec())
        }
    }
}

/// DER of the OIDs id-ecPublicKey, prime256v1 and secp384r1.
const EC_PUBLIC_KEY_OID: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const P256_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// Wraps a SEC1 `ECPrivateKey` (openssl's `EC PRIVATE KEY`) in the PKCS#8
/// envelope ring reads: SEQUENCE { INTEGER 0, SEQUENCE { id-ecPublicKey,
/// curve }, OCTET STRING { the SEC1 key } }.
fn sec1_to_pkcs8(sec1: &[u8], curve_oid: &[u8]) -> Vec<u8> {
    let mut algorithm = EC_PUBLIC_KEY_OID.to_vec();
    algorithm.extend_from_slice(curve_oid);
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend(der_tlv(0x30, &algorithm));
    body.extend(der_tlv(0x04, sec1));
    der_tlv(0x30, &body)
}

fn der_tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(dir: &std::path::Path, method: &str, priv_pem: Option<&str>, pub_pem: Option<&str>) -> JwtTokens {
        let mut opts =
            BTreeMap::from([("sign-method".to_owned(), method.to_owned()), ("ttl".to_owned(), "1m".to_owned())]);
        if let Some(p) = priv_pem {
            std::fs::write(dir.join("priv.pem"), p).unwrap();
            opts.insert("priv-key".into(), dir.join("priv.pem").display().to_string());
        }
        if let Some(p) = pub_pem {
            std::fs::write(dir.join("pub.pem"), p).unwrap();
            opts.insert("pub-key".into(), dir.join("pub.pem").display().to_string());
        }
        JwtTokens::from_options(&opts).unwrap()
    }

    #[test]
    fn es256_tokens_round_trip_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let t = provider(dir.path(), "ES256", Some(&key.serialize_pem()), Some(&key.public_key_pem()));
        let now = SystemTime::now();
        let token = t.sign("alice", 7, now).unwrap();
        assert_eq!(t.verify(&token, now), Some(Claims { username: "alice".into(), revision: 7 }));
        assert_eq!(t.verify(&token, now + Duration::from_secs(61)), None, "expired");
        let mut forged = token.clone();
        forged.push('A');
        assert_eq!(t.verify(&forged, now), None);
        // Signed with another key: refused.
        let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let dir2 = tempfile::tempdir().unwrap();
        let t2 = provider(dir2.path(), "ES256", Some(&other.serialize_pem()), None);
        assert_eq!(t.verify(&t2.sign("alice", 7, now).unwrap(), now), None);
    }

    #[test]
    fn a_public_key_alone_verifies_but_cannot_sign() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let signer = provider(dir.path(), "ES256", Some(&key.serialize_pem()), None);
        let verifier = provider(dir.path(), "ES256", None, Some(&key.public_key_pem()));
        assert!(!verifier.can_sign());
        let now = SystemTime::now();
        let token = signer.sign("root", 3, now).unwrap();
        assert_eq!(verifier.verify(&token, now).map(|c| c.username), Some("root".into()));
    }

    #[test]
    fn hmac_and_bad_options() {
        let dir = tempfile::tempdir().unwrap();
        let t = provider(dir.path(), "HS256", Some("secret"), None);
        let now = SystemTime::now();
        assert_eq!(t.verify(&t.sign("u", 1, now).unwrap(), now).map(|c| c.revision), Some(1));
        let opts = |m: &str| BTreeMap::from([("sign-method".to_owned(), m.to_owned())]);
        assert_eq!(JwtTokens::from_options(&opts("nope")).unwrap_err(), JwtConfigError::InvalidOptions);
        assert_eq!(JwtTokens::from_options(&opts("RS256")).unwrap_err(), JwtConfigError::MissingKey);
        assert!(matches!(JwtTokens::from_options(&opts("ES512")), Err(JwtConfigError::Unsupported(_))));
    }

    #[test]
    fn mismatched_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let b = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        std::fs::write(dir.path().join("priv.pem"), a.serialize_pem()).unwrap();
        std::fs::write(dir.path().join("pub.pem"), b.public_key_pem()).unwrap();
        let opts = BTreeMap::from([
            ("sign-method".to_owned(), "ES256".to_owned()),
            ("priv-key".to_owned(), dir.path().join("priv.pem").display().to_string()),
            ("pub-key".to_owned(), dir.path().join("pub.pem").display().to_string()),
        ]);
        assert_eq!(JwtTokens::from_options(&opts).unwrap_err(), JwtConfigError::KeyMismatch);
    }
}
