//! Who is calling the API and what they may see: the caller behind a bearer
//! token, and need-to-know access to cases.

use super::Node;
use crate::users::{NODE_ADMIN, Role, Users};
use subtle::ConstantTimeEq as _;

/// The person behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// User name.
    pub name: String,
    /// Role.
    pub role: Role,
}

impl Caller {
    /// The built-in admin.
    pub fn node_admin() -> Caller {
        Caller {
            name: NODE_ADMIN.into(),
            role: Role::Admin,
        }
    }

    /// Whether the caller has one of `roles`.
    pub fn is(&self, roles: &[Role]) -> bool {
        roles.contains(&self.role)
    }
}

/// The accounts file as last read: its text and what it says. The text,
/// not the file's modification time, tells whether it changed: two writes
/// within one tick of the file system's clock (a user added, then revoked)
/// share a modification time, and a revoked token would go on working.
#[derive(Debug, Default)]
pub(crate) struct UserCache {
    text: Option<String>,
    users: Users,
}

impl Node {
    fn users_path(&self) -> std::path::PathBuf {
        self.home.dir.join("users.toml")
    }

    /// The caller whose token is `token`, if any. The accounts file is
    /// read on every call and parsed again when its text changed, so
    /// `user add` and `user revoke` take effect at once, from the API or
    /// from the command line.
    pub fn authenticate(&self, token: &str) -> Option<Caller> {
        let admin = self.api_token.as_bytes();
        if token.len() == admin.len() && bool::from(token.as_bytes().ct_eq(admin)) {
            return Some(Caller::node_admin());
        }
        let read = Users::read(&self.users_path());
        let mut cache = super::lock(&self.users);
        // `None`: the text is the one already parsed.
        let changed = read.and_then(|text| match text == cache.text {
            true => Ok(None),
            false => Ok(Some((text.as_deref().map(Users::parse).transpose()?, text))),
        });
        match changed {
            Ok(None) => {}
            Ok(Some((users, text))) => {
                cache.users = users.unwrap_or_default();
                cache.text = text;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read users.toml; no user can sign in");
                *cache = UserCache::default();
            }
        }
        cache.users.authenticate(token).map(|u| Caller {
            name: u.name.clone(),
            role: u.role,
        })
    }

    /// Whether `caller` may see the content of case `case`: admins always;
    /// others when on the case's access list; case managers also see
    /// cases no one has opened yet (new incoming cases), so they can open
    /// them. Auditors never see content.
    pub fn may_see_case(&self, caller: &Caller, case: &str) -> bool {
        match caller.role {
            Role::Admin => true,
            Role::Auditor => false,
            Role::Operator | Role::CaseManager => match self.case_record(case) {
                Ok(Some(r)) => r.access.iter().any(|n| n == &caller.name),
                Ok(None) => caller.role == Role::CaseManager,
                Err(_) => false,
            },
        }
    }

    /// Whether `caller` may see a case's messages listed (metadata only).
    pub fn may_list_case(&self, caller: &Caller, case: &str) -> bool {
        caller.role == Role::Auditor || self.may_see_case(caller, case)
    }

    /// Adds a user; returns the token (shown once).
    pub fn add_user(&self, name: &str, role: Role) -> Result<String, String> {
        let path = self.users_path();
        // Held across the read, change and write, so that two changes
        // through the API cannot overwrite each other.
        let _writing = super::lock(&self.users);
        let mut users = Users::load(&path).map_err(|e| e.to_string())?;
        let token = users.add(name, role, &self.now().to_string())?;
        users.save(&path)?;
        Ok(token)
    }

    /// Revokes a user.
    pub fn revoke_user(&self, name: &str) -> Result<(), String> {
        let path = self.users_path();
        let _writing = super::lock(&self.users);
        let mut users = Users::load(&path).map_err(|e| e.to_string())?;
        users.revoke(name)?;
        users.save(&path)
    }

    /// Every account (without token hashes).
    pub fn list_users(&self) -> Result<Vec<serde_json::Value>, String> {
        let users = Users::load(&self.users_path()).map_err(|e| e.to_string())?;
        let mut out = vec![
            serde_json::json!({"name": NODE_ADMIN, "role": "admin", "revoked": false, "built_in": true}),
        ];
        out.extend(users.users.iter().map(|u| {
            serde_json::json!({"name": u.name, "role": u.role, "revoked": u.revoked, "created": u.created})
        }));
        Ok(out)
    }
}

impl Node {
    /// Audits a read of a form: who read which message.
    pub async fn form_read(&self, caller: &Caller, m: &super::MessageView) {
        self.audit(
            crate::protocol::audit::Event::FormRead,
            crate::protocol::audit::Record {
                peer: Some(m.peer),
                message: Some(m.id),
                envelope: None,
                detail: Some(format!(
                    "read by {} ({})",
                    caller.name,
                    caller.role.as_str()
                )),
            },
        );
        let _ = self.sync.wait().await;
    }

    /// Audits a change of accounts.
    pub async fn user_audit(&self, caller: &Caller, what: &str) {
        self.audit(
            crate::protocol::audit::Event::UsersChanged,
            crate::protocol::audit::Record {
                detail: Some(format!("{what}, by {}", caller.name)),
                ..crate::protocol::audit::Record::default()
            },
        );
        let _ = self.sync.wait().await;
    }
}
