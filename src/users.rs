//! Operator accounts: a name, a role and a personal API token (kept only as
//! its SHA-256). Stored in `HOME/users.toml`; the bootstrap token in
//! `HOME/keys/api.token` belongs to the built-in admin `node-admin`.

use crate::protocol::FieldError;
use crate::protocol::card::toml_error;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::path::Path;
use subtle::ConstantTimeEq as _;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Sends and reads messages of the cases on whose access list they are.
    Operator,
    /// An operator who also opens cases, records consents and sees new
    /// incoming cases that no one has opened yet.
    CaseManager,
    /// Configures the node; sees everything; may override overridable
    /// safeguards with a written reason.
    Admin,
    /// Reads metadata and the audit log, never form content.
    Auditor,
}

impl Role {
    /// The role's name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::CaseManager => "case-manager",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }

    /// Parses a role name.
    pub fn parse(s: &str) -> Option<Role> {
        [
            Role::Operator,
            Role::CaseManager,
            Role::Admin,
            Role::Auditor,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// One account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Unique name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// SHA-256 of the token, hex.
    pub token_sha256: String,
    /// When created (RFC 3339).
    pub created: String,
    /// Revoked accounts can no longer sign in.
    #[serde(default)]
    pub revoked: bool,
}

/// The accounts file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Users {
    /// The accounts.
    #[serde(default, rename = "user")]
    pub users: Vec<User>,
}

/// The built-in admin whose token is `HOME/keys/api.token`.
pub const NODE_ADMIN: &str = "node-admin";

/// SHA-256 of a token, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Users {
    /// Reads `path`; a missing file is an empty list.
    pub fn load(path: &Path) -> Result<Users, FieldError> {
        match Self::read(path)? {
            Some(text) => Self::parse(&text),
            None => Ok(Users::default()),
        }
    }

    /// The text of `path`, or `None` when there is no such file.
    pub fn read(path: &Path) -> Result<Option<String>, FieldError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(FieldError::new("(file)", e.to_string())),
        }
    }

    /// Parses the text of an accounts file.
    pub fn parse(text: &str) -> Result<Users, FieldError> {
        let u: Users = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        for (i, user) in u.users.iter().enumerate() {
            if !valid_name(&user.name) {
                return Err(FieldError::new(
                    format!("user[{i}].name"),
                    "must be 1 to 64 letters, digits, '.', '_' or '-'",
                ));
            }
        }
        Ok(u)
    }

    /// Writes `path` (mode 0600) through a temporary file.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let text = toml::to_string(self).map_err(|e| e.to_string())?;
        let tmp = path.with_extension("toml.tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        f.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
        f.sync_all().map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, path).map_err(|e| e.to_string())
    }

    /// The active user whose token is `token`, comparing hashes in
    /// constant time.
    pub fn authenticate(&self, token: &str) -> Option<&User> {
        let h = token_hash(token);
        let mut found = None;
        for u in &self.users {
            if bool::from(u.token_sha256.as_bytes().ct_eq(h.as_bytes())) && !u.revoked {
                found = Some(u);
            }
        }
        found
    }

    /// Adds a user and returns the new token (shown once, never stored).
    pub fn add(&mut self, name: &str, role: Role, now: &str) -> Result<String, String> {
        if !valid_name(name) || name == NODE_ADMIN {
            return Err(format!(
                "user name {name:?} must be 1 to 64 letters, digits, '.', '_' or '-' (and not {NODE_ADMIN})"
            ));
        }
        if self.users.iter().any(|u| u.name == name) {
            return Err(format!("user {name} exists already"));
        }
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| format!("no randomness: {e}"))?;
        let token = hex::encode(raw);
        zeroize::Zeroize::zeroize(&mut raw);
        self.users.push(User {
            name: name.to_string(),
            role,
            token_sha256: token_hash(&token),
            created: now.to_string(),
            revoked: false,
        });
        Ok(token)
    }

    /// Revokes a user.
    pub fn revoke(&mut self, name: &str) -> Result<(), String> {
        let u = self
            .users
            .iter_mut()
            .find(|u| u.name == name)
            .ok_or_else(|| format!("no user {name}"))?;
        u.revoked = true;
        Ok(())
    }
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_sign_in_by_token_until_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let mut u = Users::load(&path).unwrap();
        let t = u
            .add("maria", Role::Operator, "2026-11-23T00:00:00Z")
            .unwrap();
        assert!(u.add("maria", Role::Admin, "x").is_err());
        assert!(u.add("bad name", Role::Admin, "x").is_err());
        u.save(&path).unwrap();
        let u = Users::load(&path).unwrap();
        assert_eq!(u.authenticate(&t).unwrap().role, Role::Operator);
        assert!(u.authenticate("wrong").is_none());
        assert!(
            !std::fs::read_to_string(&path).unwrap().contains(&t),
            "token never stored"
        );
        let mut u = u;
        u.revoke("maria").unwrap();
        assert!(u.authenticate(&t).is_none());
    }
}
