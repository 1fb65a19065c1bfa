//! sprig's crypto.go: the checksums (`sha1sum`, `sha256sum`, `adler32sum`), `uuidv4`,
//! `encryptAES`/`decryptAES` (AES-256-CBC, sprig's key padding and PKCS#7), and the
//! certificate functions, which this port does not implement (they error). Kanister's
//! replacements of `derivePassword` and `genPrivateKey` are in [`super::ksprig`].
//!
//! Registers into [`crate::template::registry`]; must not import the executor, the assembled
//! table or the other sprig files (what they share is in [`super::helpers`]).

use super::helpers::{Res, s, str_v, unsupported};
use crate::template::gostd::encoding::{b64_decode, b64_encode, illegal};
use crate::template::gostd::rand::random_bytes;
use crate::template::gostd::unicode::lossy;
use crate::template::registry::{Registry, Ty::*};
use gotmpl::Value;

/// Registers crypto.go's functions (but `derivePassword` and `genPrivateKey`).
pub(super) fn register(r: &mut Registry) {
    r.plain("sha1sum", &[Str], None, |a| {
        use sha1::Digest;
        str_v(hex(&sha1::Sha1::digest(s(&a[0]).as_bytes())))
    });
    r.plain("sha256sum", &[Str], None, |a| {
        use sha2::Digest;
        str_v(hex(&sha2::Sha256::digest(s(&a[0]).as_bytes())))
    });
    r.plain("adler32sum", &[Str], None, |a| {
        let (mut x, mut y) = (1u32, 0u32);
        for b in s(&a[0]).bytes() {
            x = (x + b as u32) % 65521;
            y = (y + x) % 65521;
        }
        str_v(((y << 16) | x).to_string())
    });
    r.plain("buildCustomCert", &[Str, Str], None, |_| Err(unsupported("buildCustomCert")));
    r.plain("genCA", &[Str, Int], None, |_| Err(unsupported("genCA")));
    r.plain("genSelfSignedCert", &[Str, Any, Any, Int], None, |_| Err(unsupported("genSelfSignedCert")));
    r.plain("genSignedCert", &[Str, Any, Any, Int, Any], None, |_| Err(unsupported("genSignedCert")));
    r.plain("encryptAES", &[Str, Str], None, encrypt_aes);
    r.plain("decryptAES", &[Str, Str], None, decrypt_aes);
    r.plain("uuidv4", &[], None, |_| str_v(uuidv4()));
}

/// `uuid.New().String()`: a random (version 4) UUID.
fn uuidv4() -> String {
    let mut b = random_bytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// AES-256-CBC over whole blocks, the key being the password zero-padded to 32 bytes.
fn aes_crypt(password: &str, data: &[u8], encrypt: bool, iv: &[u8]) -> Vec<u8> {
    use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
    let mut key = [0u8; 32];
    let pw = password.as_bytes();
    key[..pw.len().min(32)].copy_from_slice(&pw[..pw.len().min(32)]);
    let cipher = aes::Aes256::new(&key.into());
    let mut prev: [u8; 16] = iv.try_into().unwrap_or([0; 16]);
    let mut out = Vec::with_capacity(data.len());
    for chunk in data.chunks(16) {
        let mut block = [0u8; 16];
        block[..chunk.len()].copy_from_slice(chunk);
        if encrypt {
            for (b, p) in block.iter_mut().zip(prev.iter()) {
                *b ^= p;
            }
            let mut blk = block.into();
            cipher.encrypt_block(&mut blk);
            let enc: [u8; 16] = blk.into();
            out.extend_from_slice(&enc);
            prev = enc;
        } else {
            let mut blk = block.into();
            cipher.decrypt_block(&mut blk);
            let mut dec: [u8; 16] = blk.into();
            for (b, p) in dec.iter_mut().zip(prev.iter()) {
                *b ^= p;
            }
            out.extend_from_slice(&dec);
            prev = block;
        }
    }
    out
}

/// sprig's `encryptAES`: PKCS#7 padding, a random IV, base64 of IV + ciphertext.
fn encrypt_aes(a: &[Value]) -> Res {
    let plain = s(&a[1]).as_bytes();
    if plain.is_empty() {
        return str_v("");
    }
    let pad = 16 - plain.len() % 16;
    let mut content = plain.to_vec();
    content.extend(std::iter::repeat_n(pad as u8, pad));
    let iv = random_bytes(16);
    let mut out = iv.clone();
    out.extend(aes_crypt(s(&a[0]), &content, true, &iv));
    str_v(b64_encode(&out))
}

/// sprig's `decryptAES`, its panics on short or malformed input included.
fn decrypt_aes(a: &[Value]) -> Res {
    let c = s(&a[1]);
    if c.is_empty() {
        return str_v("");
    }
    let crypt = b64_decode(c.as_bytes()).map_err(|at| illegal("base64", at))?;
    if crypt.len() < 16 {
        return Err(format!("runtime error: slice bounds out of range [:16] with capacity {}", crypt.len()));
    }
    let (iv, body) = crypt.split_at(16);
    if body.len() % 16 != 0 {
        return Err("crypto/cipher: input not full blocks".into());
    }
    let dec = aes_crypt(s(&a[0]), body, false, iv);
    let Some(&last) = dec.last() else {
        return Err("runtime error: index out of range [-1]".into());
    };
    let cut = dec.len() as i64 - last as i64;
    if cut < 0 {
        return Err(format!("runtime error: slice bounds out of range [:{cut}]"));
    }
    str_v(lossy(&dec[..cut as usize]))
}

/// Lowercase hex.
fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
