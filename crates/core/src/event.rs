//! The event log's vocabulary: who acted, and what changed from what to what.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    Agent,
    Customer,
    /// Rapport itself: timers, automations, imports, the CLI.
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Customer => "customer",
            Self::System => "system",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Agent, Self::Customer, Self::System]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// Who did something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Actor {
    pub kind: ActorKind,
    pub id: Option<i64>,
}

impl Actor {
    pub const SYSTEM: Actor = Actor {
        kind: ActorKind::System,
        id: None,
    };

    pub fn agent(id: i64) -> Self {
        Self {
            kind: ActorKind::Agent,
            id: Some(id),
        }
    }

    pub fn customer(id: i64) -> Self {
        Self {
            kind: ActorKind::Customer,
            id: Some(id),
        }
    }

    /// The agent who acted, when an agent did.
    pub fn agent_id(&self) -> Option<i64> {
        match self.kind {
            ActorKind::Agent => self.id,
            _ => None,
        }
    }
}

/// What happened. The string form (`ticket.created`) is what the log stores and what webhooks
/// and the API show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    TicketCreated,
    /// One field of a ticket changed; the data names the field with its before and after.
    TicketChanged,
    MessageAdded,
    CustomerCreated,
    CustomerChanged,
    OrganizationCreated,
    AgentCreated,
    AgentPasswordSet,
    TokenCreated,
    TeamCreated,
    TeamMemberAdded,
    InboxCreated,
    InboxChanged,
    FieldCreated,
    /// An email was queued to the customer (a read-back or a reply).
    EmailQueued,
    /// Mail we sent bounced; the data names the addresses.
    EmailBounced,
    /// The customer said our read-back got their request wrong.
    ReadbackCorrected,
    /// Two tickets were linked (a follow-up to a closed ticket).
    TicketLinked,
    /// A customer was sent a portal sign-in link.
    PortalLinkSent,
    /// A customer signed in to the portal with a link.
    PortalSignedIn,
    /// A ticket was merged into another (data: source and target).
    TicketMerged,
    /// A message was copied out into a new ticket (data: the message and both tickets).
    TicketSplit,
    MacroSaved,
    MacroDeleted,
    ViewSaved,
    ViewDeleted,
    /// An agent turned two-factor sign-in on or off, or used a recovery code.
    TwoFactorChanged,
    /// An internal note named an agent (`@name`); the subject is that agent.
    AgentMentioned,
    /// An agent's role or active flag changed.
    AgentChanged,
    /// An SLA target is about to be missed (data: target, due time, who was notified).
    SlaWarning,
    /// An SLA target was missed (data: target, due time, the escalation taken).
    SlaBreached,
    SlaPolicySaved,
    SlaPolicyDeleted,
    CalendarSaved,
    CalendarDeleted,
    /// An agent committed to something on a ticket, by a due time.
    CommitmentMade,
    /// The owner was reminded of a commitment about to lapse.
    CommitmentReminded,
    CommitmentKept,
    /// A commitment lapsed (or was fulfilled late) and was escalated.
    CommitmentBroken,
    CommitmentCancelled,
    /// A customer asked for status (data: the message and why it counts).
    TicketChased,
    /// Something needs an agent's attention (an SLA warning or breach, a commitment); the
    /// subject is that agent.
    AgentAlerted,
    /// Routing gave a ticket an owner (data: the agent, why, needs matched and unmet).
    TicketRouted,
    /// A ticket's owner or team changed away from someone (data: from, to, the reason).
    TicketTransferred,
    /// A ticket was answered "we can't help — they can" (data: the referral, time to answer).
    TicketReferred,
    /// A customer message scored as irate (data: score, reasons, what was done).
    TicketIrate,
    InternalRequestCreated,
    /// Someone wrote on an internal request (the asked team or the asker).
    InternalRequestReplied,
    InternalRequestDone,
    InternalRequestCancelled,
    /// An internal request passed its due time and was escalated to the team's lead.
    InternalRequestOverdue,
    /// An agent went online, away or offline.
    AgentAvailabilityChanged,
    /// An agent's skills, capacity or working hours changed.
    AgentRoutingChanged,
    /// A team's routing settings changed.
    TeamChanged,
    /// A historical ticket was imported with its conversation (data: a summary).
    TicketImported,
    /// A webhook subscriber was added or removed. Never delivered to webhooks themselves.
    WebhookCreated,
    WebhookDeleted,
    /// An agent logged a phone call on a ticket.
    CallLogged,
    /// A callback was scheduled (by the customer or an agent), done, missed or cancelled.
    CallbackScheduled,
    CallbackDone,
    CallbackMissed,
    CallbackCancelled,
    /// An inbox's chat widget settings changed.
    ChatWidgetChanged,
}

impl EventKind {
    pub const ALL: [EventKind; 63] = [
        Self::TicketCreated,
        Self::TicketChanged,
        Self::MessageAdded,
        Self::CustomerCreated,
        Self::CustomerChanged,
        Self::OrganizationCreated,
        Self::AgentCreated,
        Self::AgentPasswordSet,
        Self::TokenCreated,
        Self::TeamCreated,
        Self::TeamMemberAdded,
        Self::InboxCreated,
        Self::InboxChanged,
        Self::FieldCreated,
        Self::EmailQueued,
        Self::EmailBounced,
        Self::ReadbackCorrected,
        Self::TicketLinked,
        Self::PortalLinkSent,
        Self::PortalSignedIn,
        Self::TicketMerged,
        Self::TicketSplit,
        Self::MacroSaved,
        Self::MacroDeleted,
        Self::ViewSaved,
        Self::ViewDeleted,
        Self::TwoFactorChanged,
        Self::AgentMentioned,
        Self::AgentChanged,
        Self::SlaWarning,
        Self::SlaBreached,
        Self::SlaPolicySaved,
        Self::SlaPolicyDeleted,
        Self::CalendarSaved,
        Self::CalendarDeleted,
        Self::CommitmentMade,
        Self::CommitmentReminded,
        Self::CommitmentKept,
        Self::CommitmentBroken,
        Self::CommitmentCancelled,
        Self::TicketChased,
        Self::AgentAlerted,
        Self::TicketRouted,
        Self::TicketTransferred,
        Self::TicketReferred,
        Self::TicketIrate,
        Self::InternalRequestCreated,
        Self::InternalRequestReplied,
        Self::InternalRequestDone,
        Self::InternalRequestCancelled,
        Self::InternalRequestOverdue,
        Self::AgentAvailabilityChanged,
        Self::AgentRoutingChanged,
        Self::TeamChanged,
        Self::TicketImported,
        Self::WebhookCreated,
        Self::WebhookDeleted,
        Self::CallLogged,
        Self::CallbackScheduled,
        Self::CallbackDone,
        Self::CallbackMissed,
        Self::CallbackCancelled,
        Self::ChatWidgetChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TicketCreated => "ticket.created",
            Self::TicketChanged => "ticket.changed",
            Self::MessageAdded => "message.added",
            Self::CustomerCreated => "customer.created",
            Self::CustomerChanged => "customer.changed",
            Self::OrganizationCreated => "organization.created",
            Self::AgentCreated => "agent.created",
            Self::AgentPasswordSet => "agent.password_set",
            Self::TokenCreated => "token.created",
            Self::TeamCreated => "team.created",
            Self::TeamMemberAdded => "team.member_added",
            Self::InboxCreated => "inbox.created",
            Self::InboxChanged => "inbox.changed",
            Self::FieldCreated => "custom_field.created",
            Self::EmailQueued => "email.queued",
            Self::EmailBounced => "email.bounced",
            Self::ReadbackCorrected => "readback.corrected",
            Self::TicketLinked => "ticket.linked",
            Self::PortalLinkSent => "portal.link_sent",
            Self::PortalSignedIn => "portal.signed_in",
            Self::TicketMerged => "ticket.merged",
            Self::TicketSplit => "ticket.split",
            Self::MacroSaved => "macro.saved",
            Self::MacroDeleted => "macro.deleted",
            Self::ViewSaved => "view.saved",
            Self::ViewDeleted => "view.deleted",
            Self::TwoFactorChanged => "agent.two_factor",
            Self::AgentMentioned => "agent.mentioned",
            Self::AgentChanged => "agent.changed",
            Self::SlaWarning => "sla.warning",
            Self::SlaBreached => "sla.breached",
            Self::SlaPolicySaved => "sla.policy_saved",
            Self::SlaPolicyDeleted => "sla.policy_deleted",
            Self::CalendarSaved => "calendar.saved",
            Self::CalendarDeleted => "calendar.deleted",
            Self::CommitmentMade => "commitment.made",
            Self::CommitmentReminded => "commitment.reminded",
            Self::CommitmentKept => "commitment.kept",
            Self::CommitmentBroken => "commitment.broken",
            Self::CommitmentCancelled => "commitment.cancelled",
            Self::TicketChased => "ticket.chased",
            Self::AgentAlerted => "agent.alerted",
            Self::TicketRouted => "ticket.routed",
            Self::TicketTransferred => "ticket.transferred",
            Self::TicketReferred => "ticket.referred",
            Self::TicketIrate => "ticket.irate",
            Self::InternalRequestCreated => "internal_request.created",
            Self::InternalRequestReplied => "internal_request.replied",
            Self::InternalRequestDone => "internal_request.done",
            Self::InternalRequestCancelled => "internal_request.cancelled",
            Self::InternalRequestOverdue => "internal_request.overdue",
            Self::AgentAvailabilityChanged => "agent.availability",
            Self::AgentRoutingChanged => "agent.routing",
            Self::TeamChanged => "team.changed",
            Self::TicketImported => "ticket.imported",
            Self::WebhookCreated => "webhook.created",
            Self::WebhookDeleted => "webhook.deleted",
            Self::CallLogged => "call.logged",
            Self::CallbackScheduled => "callback.scheduled",
            Self::CallbackDone => "callback.done",
            Self::CallbackMissed => "callback.missed",
            Self::CallbackCancelled => "callback.cancelled",
            Self::ChatWidgetChanged => "chat.widget_changed",
        }
    }
}

/// One field's change, recorded in the event log with both values so history reads without
/// replaying anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Change {
    pub field: String,
    pub before: Value,
    pub after: Value,
}

impl Change {
    pub fn new(field: impl Into<String>, before: impl Serialize, after: impl Serialize) -> Self {
        Self {
            field: field.into(),
            before: serde_json::to_value(before).unwrap_or(Value::Null),
            after: serde_json::to_value(after).unwrap_or(Value::Null),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_distinct_dotted_names() {
        let names: std::collections::HashSet<_> =
            EventKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), EventKind::ALL.len());
        assert!(names.iter().all(|n| n.contains('.')));
    }

    #[test]
    fn changes_keep_both_values() {
        let c = Change::new("status", "open", "solved");
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({"field":"status","before":"open","after":"solved"})
        );
    }
}
