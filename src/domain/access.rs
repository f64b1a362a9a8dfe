//! Who may call the API: roles and bearer tokens. A token is `clt_<id>_<secret>`; the id
//! finds the stored row, the secret is kept only as its SHA-256 and compared in constant time,
//! so neither a database dump nor response timing gives a usable token away.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Reviewer,
    SeniorReviewer,
    Admin,
    /// May only post inbox messages (a mail gateway).
    Inbox,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Reviewer, Role::SeniorReviewer, Role::Admin, Role::Inbox];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reviewer => "reviewer",
            Role::SeniorReviewer => "senior_reviewer",
            Role::Admin => "admin",
            Role::Inbox => "inbox",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?} (expected reviewer, senior_reviewer, admin or inbox)")]
pub struct RoleError(pub String);

impl FromStr for Role {
    type Err = RoleError;
    fn from_str(s: &str) -> Result<Role, RoleError> {
        Role::ALL.into_iter().find(|r| r.as_str() == s.trim()).ok_or_else(|| RoleError(s.to_string()))
    }
}

/// How a stored role column becomes a role (a row naming no known role is refused).
impl TryFrom<String> for Role {
    type Error = RoleError;
    fn try_from(s: String) -> Result<Role, RoleError> {
        s.parse()
    }
}

const PREFIX: &str = "clt_";
/// The console's session cookies: the same shape as API tokens, told apart by the prefix so
/// that neither is accepted in the other's place.
const SESSION_PREFIX: &str = "cls_";
/// One-time console sign-in links (`creditline console link`), told apart the same way.
const LINK_PREFIX: &str = "cll_";
const ID_BYTES: usize = 6;
const SECRET_BYTES: usize = 32;
/// Random bytes a new token needs: the id, then the secret.
pub const TOKEN_RANDOM_BYTES: usize = ID_BYTES + SECRET_BYTES;

/// A token as presented: the id to look up and the secret to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerToken {
    pub id: String,
    secret: String,
}

impl BearerToken {
    /// A new token from fresh random bytes: (the text shown once, the token).
    pub fn from_random(random: &[u8; TOKEN_RANDOM_BYTES]) -> (String, BearerToken) {
        Self::made(PREFIX, random)
    }

    /// A new console session key (`cls_…`) from fresh random bytes: (the cookie value, the key).
    pub fn session_from_random(random: &[u8; TOKEN_RANDOM_BYTES]) -> (String, BearerToken) {
        Self::made(SESSION_PREFIX, random)
    }

    /// A new one-time sign-in link key (`cll_…`): (the text the link carries, the key).
    pub fn link_from_random(random: &[u8; TOKEN_RANDOM_BYTES]) -> (String, BearerToken) {
        Self::made(LINK_PREFIX, random)
    }

    /// Parses a sign-in link's key `cll_<12 hex>_<64 hex>`; anything else is `None`.
    pub fn parse_link(text: &str) -> Option<BearerToken> {
        Self::parsed(LINK_PREFIX, text)
    }

    fn made(prefix: &str, random: &[u8; TOKEN_RANDOM_BYTES]) -> (String, BearerToken) {
        let id = hex::encode(&random[..ID_BYTES]);
        let secret = hex::encode(&random[ID_BYTES..]);
        (format!("{prefix}{id}_{secret}"), BearerToken { id, secret })
    }

    /// Parses `clt_<12 hex>_<64 hex>`; anything else is `None`.
    pub fn parse(text: &str) -> Option<BearerToken> {
        Self::parsed(PREFIX, text)
    }

    /// Parses a session cookie value `cls_<12 hex>_<64 hex>`; anything else is `None`.
    pub fn parse_session(text: &str) -> Option<BearerToken> {
        Self::parsed(SESSION_PREFIX, text)
    }

    fn parsed(prefix: &str, text: &str) -> Option<BearerToken> {
        let rest = text.trim().strip_prefix(prefix)?;
        let (id, secret) = rest.split_once('_')?;
        let hex_of = |s: &str, bytes: usize| s.len() == bytes * 2 && s.bytes().all(|b| b.is_ascii_hexdigit());
        (hex_of(id, ID_BYTES) && hex_of(secret, SECRET_BYTES))
            .then(|| BearerToken { id: id.to_ascii_lowercase(), secret: secret.to_ascii_lowercase() })
    }

    /// What is stored: the hex SHA-256 of the secret.
    pub fn secret_sha256(&self) -> String {
        hex::encode(Sha256::digest(self.secret.as_bytes()))
    }

    /// Whether the secret hashes to `stored` (hex), in time independent of where they differ.
    pub fn matches(&self, stored: &str) -> bool {
        let ours = self.secret_sha256();
        ours.len() == stored.len() && bool::from(ours.as_bytes().ct_eq(stored.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_token_parses_back_and_matches_only_its_own_hash() {
        let (text, token) = BearerToken::from_random(&[7u8; TOKEN_RANDOM_BYTES]);
        assert!(text.starts_with("clt_070707070707_"));
        let parsed = BearerToken::parse(&text).expect("parses");
        assert_eq!(parsed, token);
        assert!(parsed.matches(&token.secret_sha256()));
        let (_, other) = BearerToken::from_random(&[8u8; TOKEN_RANDOM_BYTES]);
        assert!(!parsed.matches(&other.secret_sha256()));
        assert!(!parsed.matches(""));
    }

    #[test]
    fn session_keys_and_api_tokens_are_not_taken_for_each_other() {
        let (session, key) = BearerToken::session_from_random(&[9u8; TOKEN_RANDOM_BYTES]);
        assert!(session.starts_with("cls_090909090909_"));
        assert_eq!(BearerToken::parse_session(&session), Some(key));
        assert_eq!(BearerToken::parse(&session), None);
        let (token, _) = BearerToken::from_random(&[9u8; TOKEN_RANDOM_BYTES]);
        assert_eq!(BearerToken::parse_session(&token), None);
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        for bad in ["", "clt_", "clt_abc_def", "xyz_070707070707_00", "clt_07070707070g_".to_string().as_str()] {
            assert!(BearerToken::parse(bad).is_none(), "{bad}");
        }
        let (text, _) = BearerToken::from_random(&[1u8; TOKEN_RANDOM_BYTES]);
        assert!(BearerToken::parse(&format!("{text}0")).is_none());
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
