//! The bot's own key: it authenticates the buttons the bot makes (a MAC over the pending
//! operation's id, checked in constant time when the click comes back) and fingerprints
//! secret settings, so that a changed secret shows as changed without being stored.
//!
//! The key lives in the store (made once, on first start), so every replica and every
//! restart shares it; it is never logged or sent anywhere. A leaf.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// 32 secret bytes. `Debug` shows nothing of them.
#[derive(Clone)]
pub struct BotKey([u8; 32]);

impl std::fmt::Debug for BotKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BotKey(…)")
    }
}

impl BotKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        BotKey(bytes)
    }

    /// A new random key (from the operating system's generator, through UUID v4).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        BotKey(bytes)
    }

    /// The key as stored (hex).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The key read back from the store; `None` when it is not 32 bytes of hex.
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = hex::decode(text.trim()).ok()?;
        Some(BotKey(bytes.try_into().ok()?))
    }

    /// HMAC-SHA256 over the parts, each length-prefixed so that no two lists of parts
    /// give the same input.
    fn mac(&self, domain: &str, parts: &[&[u8]]) -> [u8; 32] {
        let Ok(mut mac) = HmacSha256::new_from_slice(&self.0) else {
            // HMAC takes keys of any length: this cannot happen.
            return [0u8; 32];
        };
        for part in std::iter::once(domain.as_bytes()).chain(parts.iter().copied()) {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The token a button carries: the operation's id and the action, with their MAC.
    pub fn button_token(&self, pending_id: &str, action: &str) -> String {
        let mac = self.mac("button", &[pending_id.as_bytes(), action.as_bytes()]);
        format!("{pending_id}.{}", hex::encode(&mac[..16]))
    }

    /// The operation id a token names, when its MAC is right for `action` (compared in
    /// constant time); `None` for a forged, altered or truncated token.
    pub fn check_button_token<'a>(&self, token: &'a str, action: &str) -> Option<&'a str> {
        let (id, given) = token.rsplit_once('.')?;
        let given = hex::decode(given).ok()?;
        let expected = self.mac("button", &[id.as_bytes(), action.as_bytes()]);
        bool::from(given.as_slice().ct_eq(&expected[..16])).then_some(id)
    }

    /// A short keyed fingerprint of some bytes (16 hex digits): equal inputs, equal
    /// fingerprints; nothing of the input can be read or guessed from it without the key.
    pub fn fingerprint(&self, domain: &str, bytes: &[u8]) -> String {
        hex::encode(&self.mac(domain, &[bytes])[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_checks_only_for_its_own_action_and_key() {
        let key = BotKey::from_bytes([7; 32]);
        let token = key.button_token("abc123", "confirm");
        assert_eq!(key.check_button_token(&token, "confirm"), Some("abc123"));
        assert_eq!(key.check_button_token(&token, "cancel"), None);
        assert_eq!(
            BotKey::from_bytes([8; 32]).check_button_token(&token, "confirm"),
            None
        );
        let altered = token.replacen("abc123", "abc124", 1);
        assert_eq!(key.check_button_token(&altered, "confirm"), None);
        for bad in [
            "",
            ".",
            "abc123",
            "abc123.",
            "abc123.zz",
            &token[..token.len() - 2],
        ] {
            assert_eq!(key.check_button_token(bad, "confirm"), None, "{bad:?}");
        }
    }

    #[test]
    fn keys_round_trip_through_hex_and_new_keys_differ() {
        let key = BotKey::generate();
        let back = BotKey::from_hex(&key.to_hex()).map(|k| k.to_hex());
        assert_eq!(back, Some(key.to_hex()));
        assert_ne!(BotKey::generate().to_hex(), key.to_hex());
        assert!(BotKey::from_hex("abcd").is_none());
        assert_eq!(format!("{key:?}"), "BotKey(…)");
    }

    #[test]
    fn fingerprints_depend_on_key_domain_and_input() {
        let key = BotKey::from_bytes([1; 32]);
        let a = key.fingerprint("secret", b"hunter2");
        assert_eq!(a.len(), 16);
        assert_eq!(a, key.fingerprint("secret", b"hunter2"));
        assert_ne!(a, key.fingerprint("secret", b"hunter3"));
        assert_ne!(a, key.fingerprint("state", b"hunter2"));
        assert_ne!(
            a,
            BotKey::from_bytes([2; 32]).fingerprint("secret", b"hunter2")
        );
    }
}
