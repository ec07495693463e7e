//! Applying an edit to a ticket: the rules in one place, producing the list of changes that
//! the store writes and the event log records.

use crate::event::Change;
use crate::fields::{FieldDef, FieldError, check_values};
use crate::tags::normalize_tags;
use crate::ticket::{Priority, TicketStatus, validate_subject};
use serde_json::Value;
use std::collections::BTreeMap;

/// The editable part of a ticket as it is now.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketState {
    pub subject: String,
    pub status: TicketStatus,
    pub priority: Priority,
    pub assignee_id: Option<i64>,
    pub team_id: Option<i64>,
    pub tags: Vec<String>,
    pub custom_fields: BTreeMap<String, Value>,
}

/// What an edit asks for; `None` leaves a field alone. For assignee and team,
/// `Some(None)` clears them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketPatch {
    pub subject: Option<String>,
    pub status: Option<TicketStatus>,
    pub priority: Option<Priority>,
    pub assignee_id: Option<Option<i64>>,
    pub team_id: Option<Option<i64>>,
    /// Replaces the whole tag list.
    pub tags: Option<Vec<String>>,
    /// Sets the given fields; `null` clears one; fields not named are kept.
    pub custom_fields: Option<serde_json::Map<String, Value>>,
    /// Why the ticket changes hands, when its owner or team changes away from someone (a
    /// transfer); required of agents then, ignored otherwise.
    pub transfer_reason: Option<String>,
}

impl TicketPatch {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Checks `patch` against `current` and returns the new state and each real change (a field
/// set to the value it already has is not a change).
pub fn plan_update(
    current: &TicketState,
    patch: &TicketPatch,
    defs: &[FieldDef],
) -> Result<(TicketState, Vec<Change>), FieldError> {
    let mut next = current.clone();
    let mut changes = Vec::new();

    if let Some(subject) = &patch.subject {
        next.subject = validate_subject(subject)?;
        if next.subject != current.subject {
            changes.push(Change::new("subject", &current.subject, &next.subject));
        }
    }
    if let Some(status) = patch.status {
        next.status = current.status.transition(status)?;
        if next.status != current.status {
            changes.push(Change::new("status", current.status, next.status));
        }
    }
    if let Some(priority) = patch.priority
        && priority != current.priority
    {
        next.priority = priority;
        changes.push(Change::new("priority", current.priority, priority));
    }
    if let Some(assignee) = patch.assignee_id
        && assignee != current.assignee_id
    {
        next.assignee_id = assignee;
        changes.push(Change::new("assignee_id", current.assignee_id, assignee));
    }
    if let Some(team) = patch.team_id
        && team != current.team_id
    {
        next.team_id = team;
        changes.push(Change::new("team_id", current.team_id, team));
    }
    if let Some(tags) = &patch.tags {
        next.tags = normalize_tags(tags)?;
        if next.tags != current.tags {
            changes.push(Change::new("tags", &current.tags, &next.tags));
        }
    }
    if let Some(fields) = &patch.custom_fields {
        for (key, value) in check_values(defs, fields)? {
            let before = current
                .custom_fields
                .get(&key)
                .cloned()
                .unwrap_or(Value::Null);
            if before == value {
                continue;
            }
            if value.is_null() {
                next.custom_fields.remove(&key);
            } else {
                next.custom_fields.insert(key.clone(), value.clone());
            }
            changes.push(Change::new(format!("custom_fields.{key}"), before, value));
        }
    }
    Ok((next, changes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::FieldType;
    use proptest::prelude::*;
    use serde_json::json;

    fn ticket() -> TicketState {
        TicketState {
            subject: "Router drops Wi-Fi".into(),
            status: TicketStatus::Open,
            priority: Priority::Normal,
            assignee_id: Some(3),
            team_id: None,
            tags: vec!["wifi".into()],
            custom_fields: BTreeMap::new(),
        }
    }

    fn defs() -> Vec<FieldDef> {
        vec![FieldDef {
            key: "order".into(),
            label: "Order".into(),
            field_type: FieldType::Text,
            options: vec![],
        }]
    }

    #[test]
    fn records_each_real_change_with_before_and_after() {
        let patch = TicketPatch {
            status: Some(TicketStatus::Solved),
            priority: Some(Priority::Normal),
            assignee_id: Some(None),
            tags: Some(vec!["WiFi".into(), "Router".into()]),
            custom_fields: Some(json!({"order": "A-17"}).as_object().unwrap().clone()),
            ..Default::default()
        };
        let (next, changes) = plan_update(&ticket(), &patch, &defs()).unwrap();
        assert_eq!(next.status, TicketStatus::Solved);
        assert_eq!(next.assignee_id, None);
        assert_eq!(next.tags, vec!["wifi", "router"]);
        let fields: Vec<_> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            ["status", "assignee_id", "tags", "custom_fields.order"]
        );
        assert_eq!(changes[0].before, json!("open"));
        assert_eq!(changes[0].after, json!("solved"));
        assert_eq!(changes[1].before, json!(3));
        assert_eq!(changes[1].after, Value::Null);
    }

    #[test]
    fn refuses_forbidden_transitions_and_bad_values() {
        let to_closed = TicketPatch {
            status: Some(TicketStatus::Closed),
            ..Default::default()
        };
        assert!(plan_update(&ticket(), &to_closed, &defs()).is_err());
        let unknown = TicketPatch {
            custom_fields: Some(json!({"colour": "red"}).as_object().unwrap().clone()),
            ..Default::default()
        };
        assert_eq!(
            plan_update(&ticket(), &unknown, &defs()).unwrap_err(),
            FieldError::Unknown("colour".into())
        );
    }

    #[test]
    fn null_clears_a_custom_field() {
        let mut t = ticket();
        t.custom_fields.insert("order".into(), json!("A-1"));
        let patch = TicketPatch {
            custom_fields: Some(json!({"order": null}).as_object().unwrap().clone()),
            ..Default::default()
        };
        let (next, changes) = plan_update(&t, &patch, &defs()).unwrap();
        assert!(next.custom_fields.is_empty());
        assert_eq!(changes.len(), 1);
    }

    proptest! {
        #[test]
        fn applying_the_same_patch_twice_changes_nothing_the_second_time(
            status in proptest::sample::select(vec![TicketStatus::Open, TicketStatus::Pending, TicketStatus::OnHold, TicketStatus::Solved]),
            priority in proptest::sample::select(Priority::ALL.to_vec()),
            assignee in proptest::option::of(1i64..5),
            tags in proptest::collection::vec("[a-z]{1,8}", 0..5),
        ) {
            let patch = TicketPatch {
                status: Some(status),
                priority: Some(priority),
                assignee_id: Some(assignee),
                tags: Some(tags),
                ..Default::default()
            };
            let (once, _) = plan_update(&ticket(), &patch, &defs()).unwrap();
            let (twice, changes) = plan_update(&once, &patch, &defs()).unwrap();
            prop_assert_eq!(once, twice);
            prop_assert!(changes.is_empty());
        }
    }
}
