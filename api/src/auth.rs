//! Login, logout and "who am I", and (on the server) the one authorization check that every
//! entry point calls first. See [`ssr::authorize`].

use serde::{Deserialize, Serialize};

/// A user's role inside one tenant; mirrors `crds::Role` without pulling kube into the browser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    Viewer,
    Developer,
    Admin,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Developer => "developer",
            Role::Admin => "admin",
        }
    }
    /// The role as a sentence names it (the words of the tenant page).
    pub fn words(self) -> crate::Text {
        let zh = match self {
            Role::Viewer => "访客",
            Role::Developer => "开发者",
            Role::Admin => "管理员",
        };
        crate::Text::new(self.label(), zh)
    }
    /// May this role change things (deploy, scale, edit, open a shell)?
    pub fn can_change(self) -> bool {
        self >= Role::Developer
    }
}

/// A tenant as the signed-in user sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TenantAccess {
    pub name: String,
    pub display_name: String,
    pub namespaces: Vec<String>,
    pub role: Role,
}

/// The signed-in user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Me {
    pub name: String,
    pub display_name: String,
    pub platform_admin: bool,
    /// Someone else chose the password: the console shows nothing but the password page.
    pub must_change_password: bool,
    pub tenants: Vec<TenantAccess>,
}

impl Me {
    pub fn tenant(&self, name: &str) -> Option<&TenantAccess> {
        self.tenants.iter().find(|t| t.name == name)
    }
}
