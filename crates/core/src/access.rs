//! Who may do what. Roles are fixed sets of permissions, so a check reads as a sentence:
//! `role.allows(Permission::PublicReply)`.

use crate::Invalid;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Configures Rapport: agents, teams, inboxes, fields, tokens of others.
    Admin,
    /// Leads agents: everything an agent does, plus approvals and reviews.
    Supervisor,
    /// Serves customers: reads and works tickets, replies, notes.
    Agent,
    /// Staff of other departments (finance, shipping, engineering): read tickets and help with
    /// internal notes, never write to the customer.
    LightAgent,
    /// A customer using the portal: only their own requests.
    Customer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    ReadTickets,
    CreateTickets,
    UpdateTickets,
    PublicReply,
    InternalNote,
    ReadCustomers,
    WriteCustomers,
    WriteOrganizations,
    ReadDirectory,
    ManageAgents,
    ManageSettings,
    ReadAudit,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Self::Admin,
        Self::Supervisor,
        Self::Agent,
        Self::LightAgent,
        Self::Customer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Supervisor => "supervisor",
            Self::Agent => "agent",
            Self::LightAgent => "light_agent",
            Self::Customer => "customer",
        }
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        crate::parse_name("role", "a role", Self::ALL, Self::as_str, text)
    }

    /// Whether this role is staff (has the agent workspace and the API).
    pub fn is_staff(self) -> bool {
        self != Self::Customer
    }

    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Self::Admin => true,
            Self::Supervisor => !matches!(permission, ManageAgents | ManageSettings),
            Self::Agent => !matches!(permission, ManageAgents | ManageSettings | ReadAudit),
            Self::LightAgent => matches!(
                permission,
                ReadTickets | InternalNote | ReadCustomers | ReadDirectory | CreateTickets
            ),
            Self::Customer => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn light_agents_help_internally_but_never_write_to_customers() {
        let light = Role::LightAgent;
        assert!(light.allows(Permission::InternalNote));
        assert!(light.allows(Permission::ReadTickets));
        assert!(!light.allows(Permission::PublicReply));
        assert!(!light.allows(Permission::UpdateTickets));
    }

    #[test]
    fn only_admins_manage_agents_and_settings() {
        for role in Role::ALL {
            assert_eq!(role.allows(Permission::ManageAgents), role == Role::Admin);
            assert_eq!(role.allows(Permission::ManageSettings), role == Role::Admin);
        }
    }

    #[test]
    fn customers_have_no_staff_permissions() {
        assert!(!Role::Customer.is_staff());
        assert!(!Role::Customer.allows(Permission::ReadTickets));
    }

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
        }
        assert!(
            Role::parse("root")
                .unwrap_err()
                .problem
                .contains("light_agent")
        );
    }
}
