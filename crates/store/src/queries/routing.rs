//! Routing and ownership (principles 4, 5 and 10): agents' availability, skills and capacity;
//! teams' routing; giving queued tickets an owner and taking tickets back from owners away too
//! long; transfers; internal requests with their own due time; the honest no; the tone of
//! customer messages and what an irate one sets off. The rules are `rapport_core::routing` and
//! `rapport_core::tone`; this module loads their inputs and writes their outcomes, in the
//! transaction of the write that caused them.

use super::sla::{Why, alert, supervisors};
use super::*;
use rapport_core::calendar::{BusinessCalendar, CalendarConfig};
use rapport_core::routing::{
    self, AssignmentMode, Availability, Candidate, Choice, DE_ESCALATION, InternalStatus, Needs,
    Referral, TeamRouting,
};
use rapport_core::tone::{self, ToneConfig};
use std::collections::{BTreeSet, HashMap};

/// The tag an irate customer's ticket gets: visible in lists, searchable, and usable in SLA
/// policy conditions.
pub const IRATE_TAG: &str = "irate";
/// Settings key of the tone scorer's configuration (`ToneConfig` as JSON).
pub(super) const TONE_SETTING: &str = "tone.config";

/// Settings key of the hours after which an unanswered ticket is at risk of a silent no.
pub(super) const SILENT_NO_SETTING: &str = "honest.silent_no_hours";

/// Statuses that count towards an agent's load and that routing hands out.
const ROUTABLE: &str = "('new', 'open')";

pub(super) const TEAM_ROUTING_COLUMNS: &str =
    "assignment, continuity, reoffer_after_minutes, internal_due_minutes, lead_agent_id";

/// Reads [`TEAM_ROUTING_COLUMNS`] starting at column `at`.
pub(super) fn team_routing_from(r: &Row, at: usize) -> Result<TeamRouting> {
    Ok(TeamRouting {
        assignment: AssignmentMode::parse(&r.text(at)?)?,
        continuity: r.bool(at + 1)?,
        reoffer_after_minutes: u32::try_from(r.int(at + 2)?).map_err(StoreError::corrupt)?,
        internal_due_minutes: u32::try_from(r.int(at + 3)?).map_err(StoreError::corrupt)?,
        lead_agent_id: r.opt_int(at + 4)?,
    })
}

async fn team_routing(c: &mut dyn Conn, team_id: i64) -> Result<TeamRouting> {
    let r = c
        .query_opt(
            &format!("SELECT {TEAM_ROUTING_COLUMNS} FROM teams WHERE id = $1"),
            params![team_id],
        )
        .await?
        .ok_or_else(|| StoreError::not_found("team", team_id))?;
    team_routing_from(&r, 0)
}

pub(super) async fn update_team_routing(
    c: &mut dyn Conn,
    ctx: Ctx,
    team_id: i64,
    routing: TeamRouting,
) -> Result<()> {
    routing.validate()?;
    ensure_team(c, team_id).await?;
    if let Some(lead) = routing.lead_agent_id {
        ensure_agent(c, lead).await?;
    }
    c.execute(
        "UPDATE teams SET assignment = $1, continuity = $2, reoffer_after_minutes = $3, \
         internal_due_minutes = $4, lead_agent_id = $5 WHERE id = $6",
        params![
            routing.assignment.as_str(),
            routing.continuity,
            i64::from(routing.reoffer_after_minutes),
            i64::from(routing.internal_due_minutes),
            routing.lead_agent_id,
            team_id
        ],
    )
    .await?;
    append_event(
        c,
        ctx,
        EventKind::TeamChanged,
        None,
        "team",
        team_id,
        json!(routing),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Agents as routing sees them

/// Routing profiles of `agents` (every active agent when `None`), with load and shift at `now`.
pub(super) async fn profiles(
    c: &mut dyn Conn,
    agents: Option<&[i64]>,
    now: Millis,
) -> Result<Vec<AgentRouting>> {
    let mut q = SqlBuilder::new(
        "SELECT id, availability, availability_since, capacity, calendar_id, last_assigned_at \
         FROM agents WHERE active = ",
    );
    q.bind(true);
    if let Some(ids) = agents {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        q.push(" AND id IN (").bind_list(ids.to_vec()).push(")");
    }
    q.push(" ORDER BY id");
    let (sql, params) = q.parts();
    let rows = c.query(sql, params).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.int(0)).collect::<Result<_>>()?;
    let skills = skills_of(c, &ids).await?;
    let mut q = SqlBuilder::new(&format!(
        "SELECT assignee_id, count(*) FROM tickets WHERE status IN {ROUTABLE} AND assignee_id IN ("
    ));
    q.bind_list(ids.clone()).push(") GROUP BY assignee_id");
    let (sql, params) = q.parts();
    let loads: HashMap<i64, i64> = c
        .query(sql, params)
        .await?
        .iter()
        .map(|r| Ok((r.int(0)?, r.int(1)?)))
        .collect::<Result<_>>()?;
    let mut calendars: HashMap<i64, BusinessCalendar> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let id = r.int(0)?;
        let calendar_id = r.opt_int(4)?;
        let on_shift = match calendar_id {
            None => true,
            Some(cal) => match calendars.entry(cal) {
                std::collections::hash_map::Entry::Occupied(known) => known.get().is_open_at(now),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    let config: CalendarConfig = json_text(
                        &c.query_one("SELECT config FROM calendars WHERE id = $1", params![cal])
                            .await?
                            .text(0)?,
                    )?;
                    slot.insert(BusinessCalendar::new(&config).map_err(StoreError::corrupt)?)
                        .is_open_at(now)
                }
            },
        };
        out.push(AgentRouting {
            agent_id: id,
            availability: Availability::parse(&r.text(1)?)?,
            availability_since: Millis(r.int(2)?),
            capacity: u32::try_from(r.int(3)?).map_err(StoreError::corrupt)?,
            calendar_id,
            skills: skills.get(&id).cloned().unwrap_or_default(),
            load: u32::try_from(loads.get(&id).copied().unwrap_or(0)).unwrap_or(u32::MAX),
            on_shift,
            last_assigned_at: Millis(r.int(5)?),
        });
    }
    Ok(out)
}

async fn skills_of(c: &mut dyn Conn, ids: &[i64]) -> Result<HashMap<i64, Vec<String>>> {
    let mut q = SqlBuilder::new("SELECT agent_id, skill FROM agent_skills WHERE agent_id IN (");
    q.bind_list(ids.to_vec()).push(") ORDER BY agent_id, skill");
    let (sql, params) = q.parts();
    let mut skills: HashMap<i64, Vec<String>> = HashMap::new();
    for r in c.query(sql, params).await? {
        skills.entry(r.int(0)?).or_default().push(r.text(1)?);
    }
    Ok(skills)
}

pub(super) async fn profile(c: &mut dyn Conn, agent_id: i64, now: Millis) -> Result<AgentRouting> {
    ensure_agent(c, agent_id).await?;
    profiles(c, Some(&[agent_id]), now)
        .await?
        .pop()
        .ok_or_else(|| StoreError::Conflict(format!("agent {agent_id} is deactivated")))
}

pub(super) async fn set_availability(
    c: &mut dyn Conn,
    ctx: Ctx,
    agent_id: i64,
    availability: Availability,
) -> Result<AgentRouting> {
    let before = profile(c, agent_id, ctx.at).await?;
    if before.availability != availability {
        c.execute(
            "UPDATE agents SET availability = $1, availability_since = $2 WHERE id = $3",
            params![availability.as_str(), ctx.at.0, agent_id],
        )
        .await?;
        let change = Change::new("availability", before.availability, availability);
        append_event(
            c,
            ctx,
            EventKind::AgentAvailabilityChanged,
            None,
            "agent",
            agent_id,
            to_value(&change),
        )
        .await?;
    }
    profile(c, agent_id, ctx.at).await
}

pub(super) async fn update_agent_routing(
    c: &mut dyn Conn,
    ctx: Ctx,
    agent_id: i64,
    patch: AgentRoutingPatch,
) -> Result<AgentRouting> {
    profile(c, agent_id, ctx.at).await?;
    if let Some(capacity) = patch.capacity {
        if !(1..=1000).contains(&capacity) {
            return Err(Invalid::new("capacity", "must be between 1 and 1000 open tickets").into());
        }
        c.execute(
            "UPDATE agents SET capacity = $1 WHERE id = $2",
            params![i64::from(capacity), agent_id],
        )
        .await?;
    }
    if let Some(calendar) = patch.calendar_id {
        if let Some(id) = calendar {
            ensure_exists(c, "SELECT 1 FROM calendars WHERE id = $1", "calendar", id).await?;
        }
        c.execute(
            "UPDATE agents SET calendar_id = $1 WHERE id = $2",
            params![calendar, agent_id],
        )
        .await?;
    }
    if let Some(skills) = &patch.skills {
        let skills = routing::normalize_skills(skills)?;
        c.execute(
            "DELETE FROM agent_skills WHERE agent_id = $1",
            params![agent_id],
        )
        .await?;
        for skill in &skills {
            c.execute(
                "INSERT INTO agent_skills (agent_id, skill) VALUES ($1, $2)",
                params![agent_id, skill],
            )
            .await?;
        }
    }
    let after = profile(c, agent_id, ctx.at).await?;
    append_event(
        c,
        ctx,
        EventKind::AgentRoutingChanged,
        None,
        "agent",
        agent_id,
        json!({"capacity": after.capacity, "calendar_id": after.calendar_id, "skills": after.skills}),
    )
    .await?;
    Ok(after)
}

// ---------------------------------------------------------------------------------------------
// Routing tickets

fn candidates(profiles: &[AgentRouting]) -> Vec<Candidate> {
    profiles
        .iter()
        .map(|p| Candidate {
            agent_id: p.agent_id,
            availability: p.availability,
            on_shift: p.on_shift,
            load: p.load,
            capacity: p.capacity,
            skills: p.skills.iter().cloned().collect(),
            last_assigned_at: p.last_assigned_at,
        })
        .collect()
}

async fn known_skills(c: &mut dyn Conn) -> Result<BTreeSet<String>> {
    c.query("SELECT DISTINCT skill FROM agent_skills", params![])
        .await?
        .iter()
        .map(|r| r.text(0))
        .collect()
}

async fn team_members(c: &mut dyn Conn, team_id: i64) -> Result<Vec<i64>> {
    c.query(
        "SELECT agent_id FROM team_members WHERE team_id = $1 ORDER BY agent_id",
        params![team_id],
    )
    .await?
    .iter()
    .map(|r| r.int(0))
    .collect()
}

/// Makes `choice` the owner of a ticket: the assignment (a transfer when `reason` is given
/// and the ticket had an owner), the routing event with why, and round robin's order.
async fn give(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    choice: &Choice,
    pool: &[Candidate],
    transfer_reason: Option<String>,
) -> Result<()> {
    let patch = TicketPatch {
        assignee_id: Some(Some(choice.agent_id)),
        transfer_reason,
        ..TicketPatch::default()
    };
    apply_ticket_patch(c, ctx, ticket_id, patch).await?;
    // Round robin's order must move forward even when concurrent writes carry clocks slightly
    // out of order: after everyone else in the pool, at least.
    let latest = pool.iter().map(|p| p.last_assigned_at.0).max().unwrap_or(0);
    c.execute(
        "UPDATE agents SET last_assigned_at = $1 WHERE id = $2",
        params![ctx.at.0.max(latest + 1), choice.agent_id],
    )
    .await?;
    append_event(
        c,
        ctx,
        EventKind::TicketRouted,
        Some(ticket_id),
        "ticket",
        ticket_id,
        json!({"agent_id": choice.agent_id, "reason": choice.reason, "matched": choice.matched,
               "unmet": choice.unmet}),
    )
    .await
}

/// Gives a queued ticket (new or open, no owner) of a routing team an owner, if anyone can
/// take it now. Returns whether it got one.
pub(super) async fn route_ticket(c: &mut dyn Conn, ctx: Ctx, ticket_id: i64) -> Result<bool> {
    // One read decides for the common case, a team that assigns by hand.
    let Some(team) = c
        .query_opt(
            "SELECT tm.id, tm.assignment FROM tickets t JOIN teams tm ON tm.id = t.team_id WHERE t.id = $1",
            params![ticket_id],
        )
        .await?
    else {
        return Ok(false);
    };
    if AssignmentMode::parse(&team.text(1)?)? == AssignmentMode::Manual {
        return Ok(false);
    }
    let team_id = team.int(0)?;
    let routing = team_routing(c, team_id).await?;
    // Concurrent routing in one team takes turns, so round robin and capacity see each
    // other's choices (and two nodes never both route one ticket).
    c.serialize_on(&format!("routing:team:{team_id}")).await?;
    let ticket = load_ticket(c, ticket_id).await?;
    if ticket.assignee_id.is_some()
        || !matches!(ticket.status, TicketStatus::New | TicketStatus::Open)
        || ticket.team_id != Some(team_id)
    {
        return Ok(false);
    }
    let members = team_members(c, team_id).await?;
    let pool = candidates(&profiles(c, Some(&members), ctx.at).await?);
    let language = c
        .query_one(
            "SELECT language FROM customers WHERE id = $1",
            params![ticket.customer.id],
        )
        .await?
        .opt_text(0)?;
    let needs = Needs::of(
        language.as_deref(),
        &ticket.tags,
        &known_skills(c).await?,
        ticket.tags.iter().any(|t| t == IRATE_TAG),
    );
    let last_helper = if routing.continuity {
        c.int_opt(
            "SELECT assignee_id FROM tickets WHERE customer_id = $1 AND id <> $2 \
             AND assignee_id IS NOT NULL ORDER BY updated_at DESC, id DESC LIMIT 1",
            params![ticket.customer.id, ticket_id],
        )
        .await?
    } else {
        None
    };
    match routing::choose(&routing, &pool, &needs, last_helper) {
        Some(choice) => {
            give(c, ctx, ticket_id, &choice, &pool, None).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// An irate customer's ticket goes to someone trained in de-escalation: kept if its owner is,
/// else handed to an available trained agent of its team (of anyone, without a team); if
/// nobody trained can take it, the team's supervisors are alerted instead.
async fn route_irate(c: &mut dyn Conn, ctx: Ctx, ticket_id: i64) -> Result<()> {
    let (owner, team) = {
        let r = c
            .query_one(
                "SELECT assignee_id, team_id FROM tickets WHERE id = $1",
                params![ticket_id],
            )
            .await?;
        (r.opt_int(0)?, r.opt_int(1)?)
    };
    if let Some(owner) = owner {
        let skills = skills_of(c, &[owner]).await?;
        if skills
            .get(&owner)
            .is_some_and(|s| s.iter().any(|k| k == DE_ESCALATION))
        {
            return Ok(());
        }
    }
    let (routing, members) = match team {
        Some(team) => (
            team_routing(c, team).await?,
            Some(team_members(c, team).await?),
        ),
        None => (TeamRouting::default(), None),
    };
    let trained: Vec<Candidate> = candidates(&profiles(c, members.as_deref(), ctx.at).await?)
        .into_iter()
        .filter(|p| p.skills.contains(DE_ESCALATION))
        .collect();
    let mode = match routing.assignment {
        AssignmentMode::Manual => AssignmentMode::LeastLoaded,
        other => other,
    };
    let routing = TeamRouting {
        assignment: mode,
        continuity: false,
        ..routing
    };
    let needs = Needs(BTreeSet::from([DE_ESCALATION.to_string()]));
    match routing::choose(&routing, &trained, &needs, None) {
        Some(choice) => {
            let reason = "Irate customer: handed to an agent trained in de-escalation".to_string();
            give(c, ctx, ticket_id, &choice, &trained, Some(reason)).await
        }
        None => {
            let why = Why {
                kind: EventKind::TicketIrate,
                text: "An irate customer is waiting and nobody trained in de-escalation can take \
                       the ticket now."
                    .into(),
            };
            for agent in supervisors(c, team).await? {
                alert(c, ctx, ticket_id, agent, &why).await?;
            }
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Transfers

/// Records a ticket changing hands (owner or team, away from someone), called by the ticket
/// patch with the state before and after. Agents must say why; routing and escalations give
/// their own reason.
pub(super) async fn record_transfer(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    before: (Option<i64>, Option<i64>),
    after: (Option<i64>, Option<i64>),
    reason: Option<&str>,
) -> Result<()> {
    let reason = match reason {
        Some(r) => routing::transfer_reason(r)?,
        None if ctx.actor.kind == ActorKind::Agent => {
            return Err(Invalid::new(
                "transfer_reason",
                "say why the ticket changes hands: it already has an owner or team",
            )
            .into());
        }
        None => "Changed by the system".to_string(),
    };
    let by = (ctx.actor.kind == ActorKind::Agent)
        .then_some(ctx.actor.id)
        .flatten();
    let id = c
        .query_one(
            "INSERT INTO transfers (ticket_id, from_agent_id, to_agent_id, from_team_id, to_team_id, reason, \
             by_agent_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            params![ticket_id, before.0, after.0, before.1, after.1, &reason, by, ctx.at.0],
        )
        .await?
        .int(0)?;
    c.execute(
        "UPDATE tickets SET transfers = transfers + 1 WHERE id = $1",
        params![ticket_id],
    )
    .await?;
    append_event(
        c,
        ctx,
        EventKind::TicketTransferred,
        Some(ticket_id),
        "transfer",
        id,
        json!({"from_agent_id": before.0, "to_agent_id": after.0, "from_team_id": before.1,
               "to_team_id": after.1, "reason": reason}),
    )
    .await
}

pub(super) async fn transfers(c: &mut dyn Conn, ticket_id: i64) -> Result<Vec<Transfer>> {
    ensure_exists(
        c,
        "SELECT 1 FROM tickets WHERE id = $1",
        "ticket",
        ticket_id,
    )
    .await?;
    c.query(
        "SELECT id, ticket_id, from_agent_id, to_agent_id, from_team_id, to_team_id, reason, by_agent_id, \
         created_at FROM transfers WHERE ticket_id = $1 ORDER BY id",
        params![ticket_id],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(Transfer {
            id: r.int(0)?,
            ticket_id: r.int(1)?,
            from_agent_id: r.opt_int(2)?,
            to_agent_id: r.opt_int(3)?,
            from_team_id: r.opt_int(4)?,
            to_team_id: r.opt_int(5)?,
            reason: r.text(6)?,
            by_agent_id: r.opt_int(7)?,
            created_at: Millis(r.int(8)?),
        })
    })
    .collect()
}

// ---------------------------------------------------------------------------------------------
// The routing pass: owners away too long, queued tickets

/// Open tickets of owners away (or deactivated) longer than their team's re-offer delay, in
/// teams that route (a team assigning by hand keeps its owners: someone there takes a ticket
/// over on purpose). Absent agents are few, and each one's tickets are an index range.
async fn tickets_of_gone_owners(
    c: &mut dyn Conn,
    now: Millis,
    limit: i64,
) -> Result<Vec<(i64, i64)>> {
    let gone = c
        .query(
            "SELECT id, availability_since, active FROM agents WHERE availability <> 'online' OR active = $1",
            params![false],
        )
        .await?;
    let mut out = Vec::new();
    for agent in gone {
        let (id, since) = (agent.int(0)?, agent.int(1)?);
        // A deactivated agent is gone however long ago they set their availability.
        let away_ms = if agent.bool(2)? {
            now.0 - since
        } else {
            i64::MAX / 2
        };
        let rows = c
            .query(
                &format!(
                    "SELECT t.id FROM tickets t JOIN teams tm ON tm.id = t.team_id \
                     WHERE t.assignee_id = $1 AND t.status IN {ROUTABLE} AND tm.assignment <> 'manual' \
                     AND tm.reoffer_after_minutes * 60000 <= $2 ORDER BY t.id LIMIT $3"
                ),
                params![id, away_ms, limit - out.len() as i64],
            )
            .await?;
        for r in rows {
            out.push((r.int(0)?, id));
        }
        if out.len() as i64 >= limit {
            break;
        }
    }
    Ok(out)
}

/// Queued tickets (oldest first) of routing teams that have someone able to take one now.
async fn routable_queued(c: &mut dyn Conn, now: Millis, limit: i64) -> Result<Vec<i64>> {
    let teams = c
        .query(
            "SELECT id FROM teams WHERE assignment <> 'manual' ORDER BY id",
            params![],
        )
        .await?;
    let mut out = Vec::new();
    for t in teams {
        let team = t.int(0)?;
        // Who can take one first: a full team's long queue is not read every pass.
        let members = team_members(c, team).await?;
        if !candidates(&profiles(c, Some(&members), now).await?)
            .iter()
            .any(Candidate::can_take)
        {
            continue;
        }
        let queued = c
            .query(
                &format!(
                    "SELECT id FROM tickets WHERE team_id = $1 AND assignee_id IS NULL AND status IN {ROUTABLE} \
                     ORDER BY id LIMIT $2"
                ),
                params![team, limit],
            )
            .await?;
        for r in queued {
            out.push(r.int(0)?);
        }
    }
    Ok(out)
}

/// Whether a routing pass at `now` has anything to do (a read).
pub(super) async fn routing_has_work(c: &mut dyn Conn, now: Millis) -> Result<bool> {
    Ok(!tickets_of_gone_owners(c, now, 1).await?.is_empty()
        || !routable_queued(c, now, 1).await?.is_empty())
}

pub(super) async fn routing_pass(c: &mut dyn Conn, now: Millis, limit: i64) -> Result<RoutingPass> {
    let ctx = Ctx {
        actor: Actor::SYSTEM,
        at: now,
    };
    let mut pass = RoutingPass::default();
    for (ticket_id, owner) in tickets_of_gone_owners(c, now, limit).await? {
        // Re-checked under the ticket's write: another node may have moved it meanwhile.
        let current = c
            .int_opt(
                "SELECT assignee_id FROM tickets WHERE id = $1",
                params![ticket_id],
            )
            .await?;
        if current != Some(owner) {
            continue;
        }
        let patch = TicketPatch {
            assignee_id: Some(None),
            transfer_reason: Some("The owner is away: offered to the team again".into()),
            ..TicketPatch::default()
        };
        apply_ticket_patch(c, ctx, ticket_id, patch).await?;
        pass.reoffered += 1;
        if route_ticket(c, ctx, ticket_id).await? {
            pass.routed += 1;
        }
    }
    for ticket_id in routable_queued(c, now, limit).await? {
        if route_ticket(c, ctx, ticket_id).await? {
            pass.routed += 1;
        }
    }
    Ok(pass)
}

// ---------------------------------------------------------------------------------------------
// Internal requests

const REQUEST_SELECT: &str = "SELECT r.id, r.ticket_id, t.subject, r.requester_id, r.team_id, r.assignee_id, r.body, \
     r.status, r.due_at, r.escalated_at, r.created_at, r.updated_at, r.closed_at \
     FROM internal_requests r LEFT JOIN tickets t ON t.id = r.ticket_id";

fn request_from(r: &Row) -> Result<InternalRequest> {
    Ok(InternalRequest {
        id: r.int(0)?,
        ticket_id: r.opt_int(1)?,
        ticket_subject: r.opt_text(2)?,
        requester_id: r.int(3)?,
        team_id: r.int(4)?,
        assignee_id: r.opt_int(5)?,
        body: r.text(6)?,
        status: InternalStatus::parse(&r.text(7)?)?,
        due_at: Millis(r.int(8)?),
        escalated_at: r.opt_int(9)?.map(Millis),
        created_at: Millis(r.int(10)?),
        updated_at: Millis(r.int(11)?),
        closed_at: r.opt_int(12)?.map(Millis),
        replies: Vec::new(),
    })
}

pub(super) async fn load_request(c: &mut dyn Conn, id: i64) -> Result<InternalRequest> {
    let row = row_by_id(c, REQUEST_SELECT, "r.id", id, || {
        StoreError::not_found("internal request", id)
    })
    .await?;
    let mut request = request_from(&row)?;
    request.replies = c
        .query(
            "SELECT id, author_id, body, created_at FROM internal_request_replies \
             WHERE request_id = $1 ORDER BY id",
            params![id],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(InternalReply {
                id: r.int(0)?,
                author_id: r.int(1)?,
                body: r.text(2)?,
                created_at: Millis(r.int(3)?),
            })
        })
        .collect::<Result<_>>()?;
    Ok(request)
}

pub(super) async fn list_requests(
    c: &mut dyn Conn,
    filter: &InternalRequestFilter,
) -> Result<Vec<InternalRequest>> {
    let mut q = SqlBuilder::new(REQUEST_SELECT);
    q.push(" WHERE 1 = 1");
    if !filter.team_ids.is_empty() {
        q.push(" AND r.team_id IN (")
            .bind_list(filter.team_ids.clone())
            .push(")");
    }
    if let Some(requester) = filter.requester_id {
        q.push(" AND r.requester_id = ").bind(requester);
    }
    if let Some(ticket) = filter.ticket_id {
        q.push(" AND r.ticket_id = ").bind(ticket);
    }
    if filter.open_only {
        q.push(" AND r.status = 'open'");
    }
    q.push(" ORDER BY r.id DESC LIMIT 200");
    let (sql, params) = q.parts();
    c.query(sql, params)
        .await?
        .iter()
        .map(request_from)
        .collect()
}

fn asking_agent(ctx: Ctx) -> Result<i64> {
    match (ctx.actor.kind, ctx.actor.id) {
        (ActorKind::Agent, Some(id)) => Ok(id),
        _ => Err(StoreError::Conflict(
            "internal requests are written by staff".into(),
        )),
    }
}

pub(super) async fn create_request(
    c: &mut dyn Conn,
    ctx: Ctx,
    new: NewInternalRequest,
) -> Result<InternalRequest> {
    let requester = asking_agent(ctx)?;
    let body = routing::request_text("body", &new.body)?;
    let routing = team_routing(c, new.team_id).await?;
    if let Some(ticket) = new.ticket_id {
        ensure_exists(c, "SELECT 1 FROM tickets WHERE id = $1", "ticket", ticket).await?;
    }
    let due = routing::internal_due(new.due_at, ctx.at, &routing)?;
    let id = c
        .query_one(
            "INSERT INTO internal_requests (ticket_id, requester_id, team_id, body, status, due_at, alarm_at, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, 'open', $5, $5, $6, $6) RETURNING id",
            params![new.ticket_id, requester, new.team_id, &body, due.0, ctx.at.0],
        )
        .await?
        .int(0)?;
    append_event(
        c,
        ctx,
        EventKind::InternalRequestCreated,
        new.ticket_id,
        "internal_request",
        id,
        json!({"team_id": new.team_id, "due_at": due, "body": body}),
    )
    .await?;
    load_request(c, id).await
}

/// Who may act on a request: the asker, members of the asked team, supervisors and admins.
/// Anyone else is told it does not exist.
struct Standing {
    asker: bool,
    in_team: bool,
}

async fn standing(c: &mut dyn Conn, ctx: Ctx, request: &InternalRequest) -> Result<Standing> {
    let agent = asking_agent(ctx)?;
    let role = load_agent(c, agent).await?.role;
    let member = c
        .int_opt(
            "SELECT 1 FROM team_members WHERE team_id = $1 AND agent_id = $2",
            params![request.team_id, agent],
        )
        .await?
        .is_some();
    let standing = Standing {
        asker: request.requester_id == agent,
        in_team: member || matches!(role, Role::Supervisor | Role::Admin),
    };
    if !standing.asker && !standing.in_team {
        return Err(StoreError::not_found("internal request", request.id));
    }
    Ok(standing)
}

fn ensure_open(request: &InternalRequest, next: InternalStatus) -> Result<()> {
    request
        .status
        .after(next)
        .map(|_| ())
        .map_err(|e| StoreError::Conflict(e.problem))
}

async fn close_request(
    c: &mut dyn Conn,
    ctx: Ctx,
    request: &InternalRequest,
    status: InternalStatus,
    note: &str,
) -> Result<()> {
    ensure_open(request, status)?;
    c.execute(
        "UPDATE internal_requests SET status = $1, closed_at = $2, updated_at = $2, alarm_at = NULL WHERE id = $3",
        params![status.as_str(), ctx.at.0, request.id],
    )
    .await?;
    let kind = match status {
        InternalStatus::Done => EventKind::InternalRequestDone,
        _ => EventKind::InternalRequestCancelled,
    };
    let waited = ctx.at.0 - request.created_at.0;
    append_event(
        c,
        ctx,
        kind,
        request.ticket_id,
        "internal_request",
        request.id,
        json!({"team_id": request.team_id, "waited_ms": waited, "note": note}),
    )
    .await
}

/// Tells the other side of a request that something happened on it.
async fn alert_about(
    c: &mut dyn Conn,
    ctx: Ctx,
    request: &InternalRequest,
    agent: i64,
    text: String,
) -> Result<()> {
    if Some(agent) == ctx.actor.id {
        return Ok(());
    }
    let why = Why {
        kind: EventKind::InternalRequestReplied,
        text,
    };
    match request.ticket_id {
        Some(ticket) => alert(c, ctx, ticket, agent, &why).await,
        // Without a ticket there is no mail thread to point at: the request's list shows it.
        None => {
            append_event(
                c,
                ctx,
                EventKind::AgentAlerted,
                None,
                "agent",
                agent,
                json!({"reason": why.kind.as_str(), "text": why.text, "internal_request_id": request.id}),
            )
            .await
        }
    }
}

pub(super) async fn reply_request(
    c: &mut dyn Conn,
    ctx: Ctx,
    id: i64,
    body: &str,
    done: bool,
) -> Result<InternalRequest> {
    let request = load_request(c, id).await?;
    let standing = standing(c, ctx, &request).await?;
    ensure_open(&request, InternalStatus::Done)?;
    if done && !standing.in_team {
        return Err(StoreError::Conflict(
            "only the asked team says an internal request is done; withdraw it instead".into(),
        ));
    }
    let body = routing::request_text("body", body)?;
    let author = asking_agent(ctx)?;
    c.execute(
        "INSERT INTO internal_request_replies (request_id, author_id, body, created_at) VALUES ($1, $2, $3, $4)",
        params![id, author, &body, ctx.at.0],
    )
    .await?;
    // The team's first answer makes whoever wrote it the request's owner on the team side.
    c.execute(
        "UPDATE internal_requests SET updated_at = $1, \
         assignee_id = CASE WHEN assignee_id IS NULL AND $2 THEN $3 ELSE assignee_id END WHERE id = $4",
        params![ctx.at.0, standing.in_team && !standing.asker, author, id],
    )
    .await?;
    append_event(
        c,
        ctx,
        EventKind::InternalRequestReplied,
        request.ticket_id,
        "internal_request",
        id,
        json!({"body": body, "done": done}),
    )
    .await?;
    if done {
        close_request(c, ctx, &request, InternalStatus::Done, "").await?;
    }
    let team = c
        .query_one(
            "SELECT name FROM teams WHERE id = $1",
            params![request.team_id],
        )
        .await?
        .text(0)?;
    if standing.asker && !standing.in_team {
        if let Some(assignee) = request.assignee_id {
            alert_about(
                c,
                ctx,
                &request,
                assignee,
                format!("The asker answered on internal request #{id}."),
            )
            .await?;
        }
    } else {
        let text = if done {
            format!("{team} finished your internal request #{id}.")
        } else {
            format!("{team} answered your internal request #{id}.")
        };
        alert_about(c, ctx, &request, request.requester_id, text).await?;
    }
    load_request(c, id).await
}

pub(super) async fn take_request(c: &mut dyn Conn, ctx: Ctx, id: i64) -> Result<InternalRequest> {
    let request = load_request(c, id).await?;
    if !standing(c, ctx, &request).await?.in_team {
        return Err(StoreError::Conflict(
            "only the asked team takes an internal request".into(),
        ));
    }
    ensure_open(&request, InternalStatus::Done)?;
    let agent = asking_agent(ctx)?;
    c.execute(
        "UPDATE internal_requests SET assignee_id = $1, updated_at = $2 WHERE id = $3",
        params![agent, ctx.at.0, id],
    )
    .await?;
    load_request(c, id).await
}

pub(super) async fn cancel_request(
    c: &mut dyn Conn,
    ctx: Ctx,
    id: i64,
    reason: &str,
) -> Result<InternalRequest> {
    let request = load_request(c, id).await?;
    let standing = standing(c, ctx, &request).await?;
    if !standing.asker
        && !matches!(
            load_agent(c, asking_agent(ctx)?).await?.role,
            Role::Supervisor | Role::Admin
        )
    {
        return Err(StoreError::Conflict(
            "only the asker withdraws an internal request".into(),
        ));
    }
    let reason = routing::transfer_reason(reason).map_err(|e| Invalid::new("reason", e.problem))?;
    close_request(c, ctx, &request, InternalStatus::Cancelled, &reason).await?;
    if let Some(assignee) = request.assignee_id {
        alert_about(
            c,
            ctx,
            &request,
            assignee,
            format!("Internal request #{id} was withdrawn: {reason}"),
        )
        .await?;
    }
    load_request(c, id).await
}

/// Overdue requests, claimed like SLA alarms (skipped when locked by another node): escalated
/// once to the team's lead, or its supervisors.
pub(super) async fn fire_overdue_requests(
    c: &mut dyn Conn,
    now: Millis,
    limit: i64,
) -> Result<u32> {
    let ctx = Ctx {
        actor: Actor::SYSTEM,
        at: now,
    };
    let due = c
        .query(
            &format!(
                "SELECT id FROM internal_requests WHERE alarm_at <= $1 ORDER BY alarm_at LIMIT $2{}",
                c.skip_locked()
            ),
            params![now.0, limit],
        )
        .await?;
    let mut fired = 0;
    for r in due {
        let request = load_request(c, r.int(0)?).await?;
        c.execute(
            "UPDATE internal_requests SET alarm_at = NULL, escalated_at = $1 WHERE id = $2",
            params![now.0, request.id],
        )
        .await?;
        if request.status != InternalStatus::Open {
            continue;
        }
        let routing = team_routing(c, request.team_id).await?;
        let notify = match routing.lead_agent_id {
            Some(lead) => vec![lead],
            None => supervisors(c, Some(request.team_id)).await?,
        };
        append_event(
            c,
            ctx,
            EventKind::InternalRequestOverdue,
            request.ticket_id,
            "internal_request",
            request.id,
            json!({"team_id": request.team_id, "due_at": request.due_at, "notified": notify}),
        )
        .await?;
        let text = format!(
            "Internal request #{} to your team is overdue: it was due at {}.",
            request.id, request.due_at
        );
        for agent in notify {
            alert_about(c, ctx, &request, agent, text.clone()).await?;
        }
        fired += 1;
    }
    Ok(fired)
}

// ---------------------------------------------------------------------------------------------
// The honest no

pub(super) async fn refer_ticket(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    body: &str,
    referral: Referral,
) -> Result<ReferralRecord> {
    let referral = referral.validate()?;
    let ticket = load_ticket(c, ticket_id).await?;
    if matches!(ticket.status, TicketStatus::Solved | TicketStatus::Closed) {
        return Err(StoreError::Conflict(format!(
            "the ticket is already {}; reopen it first",
            ticket.status.as_str()
        )));
    }
    validate_body("body", body)?;
    let languages = c
        .query_one(
            "SELECT c.language, i.language FROM customers c, inboxes i WHERE c.id = $1 AND i.id = $2",
            params![ticket.customer.id, ticket.inbox_id],
        )
        .await?;
    let language = match languages.opt_text(0)? {
        Some(lang) => lang,
        None => languages.text(1)?,
    };
    let text = format!("{}\n\n{}", body.trim_end(), referral.reply_text(&language));
    let reply = NewMessage {
        kind: MessageKind::Reply,
        channel: ticket.channel,
        body: text,
        send_email: true,
        attachments: Vec::new(),
    };
    let message_id = insert_message(c, ctx, ticket_id, reply, None)
        .await?
        .value
        .id;
    let solve = TicketPatch {
        status: Some(TicketStatus::Solved),
        ..TicketPatch::default()
    };
    apply_ticket_patch(c, ctx, ticket_id, solve).await?;
    c.execute(
        "UPDATE tickets SET resolution = 'referred' WHERE id = $1",
        params![ticket_id],
    )
    .await?;
    let answered_after = ctx.at.0 - ticket.created_at.0;
    let agent = (ctx.actor.kind == ActorKind::Agent)
        .then_some(ctx.actor.id)
        .flatten();
    // A ticket referred, reopened and referred again keeps its latest honest no.
    c.execute(
        "DELETE FROM referrals WHERE ticket_id = $1",
        params![ticket_id],
    )
    .await?;
    c.execute(
        "INSERT INTO referrals (ticket_id, message_id, referred_to, how_to_reach, agent_id, team_id, \
         answered_after_ms, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        params![ticket_id, message_id, &referral.referred_to, &referral.how_to_reach, agent, ticket.team_id,
                answered_after, ctx.at.0],
    )
    .await?;
    append_event(
        c,
        ctx,
        EventKind::TicketReferred,
        Some(ticket_id),
        "ticket",
        ticket_id,
        json!({"referred_to": referral.referred_to, "how_to_reach": referral.how_to_reach,
               "message_id": message_id, "answered_after_ms": answered_after}),
    )
    .await?;
    referral_of(c, ticket_id)
        .await?
        .ok_or_else(|| StoreError::Database("the referral just written is missing".into()))
}

pub(super) async fn referral_of(
    c: &mut dyn Conn,
    ticket_id: i64,
) -> Result<Option<ReferralRecord>> {
    c.query_opt(
        "SELECT ticket_id, message_id, referred_to, how_to_reach, agent_id, answered_after_ms, created_at \
         FROM referrals WHERE ticket_id = $1",
        params![ticket_id],
    )
    .await?
    .map(|r| {
        Ok(ReferralRecord {
            ticket_id: r.int(0)?,
            message_id: r.int(1)?,
            referred_to: r.text(2)?,
            how_to_reach: r.text(3)?,
            agent_id: r.opt_int(4)?,
            answered_after_ms: r.int(5)?,
            created_at: Millis(r.int(6)?),
        })
    })
    .transpose()
}

// ---------------------------------------------------------------------------------------------
// Tone

pub(super) async fn tone_config(c: &mut dyn Conn) -> Result<ToneConfig> {
    match c
        .query_opt(
            "SELECT value FROM settings WHERE key = $1",
            params![TONE_SETTING],
        )
        .await?
    {
        Some(r) => json_text(&r.text(0)?),
        None => Ok(ToneConfig::default()),
    }
}

/// Scores a customer message; an irate one flags the ticket (tag [`IRATE_TAG`], priority one
/// step up the first time) and sends it to someone trained in de-escalation. Returns whether
/// the ticket changed.
pub(super) async fn on_customer_message(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    message_id: i64,
    body: &str,
) -> Result<bool> {
    let config = tone_config(c).await?;
    let verdict = tone::score(body, &config);
    if verdict.score == 0 {
        return Ok(false);
    }
    c.execute(
        "INSERT INTO message_tone (message_id, ticket_id, score, irate, reasons, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        params![
            message_id,
            ticket_id,
            i64::from(verdict.score),
            verdict.irate,
            to_json(&verdict.reasons),
            ctx.at.0
        ],
    )
    .await?;
    if !verdict.irate {
        return Ok(false);
    }
    let system = Ctx {
        actor: Actor::SYSTEM,
        ..ctx
    };
    let ticket = load_ticket(c, ticket_id).await?;
    let first_time = !ticket.tags.iter().any(|t| t == IRATE_TAG);
    let raised = ticket.priority.raised().filter(|_| first_time);
    if first_time {
        let mut tags = ticket.tags.clone();
        tags.push(IRATE_TAG.to_string());
        let patch = TicketPatch {
            tags: Some(tags),
            priority: raised,
            ..TicketPatch::default()
        };
        apply_ticket_patch(c, system, ticket_id, patch).await?;
    }
    append_event(
        c,
        system,
        EventKind::TicketIrate,
        Some(ticket_id),
        "message",
        message_id,
        json!({"score": verdict.score, "threshold": config.threshold, "reasons": verdict.reasons,
               "priority_raised_to": raised}),
    )
    .await?;
    route_irate(c, system, ticket_id).await?;
    Ok(true)
}

pub(super) async fn ticket_tone(c: &mut dyn Conn, ticket_id: i64) -> Result<Vec<MessageTone>> {
    c.query(
        "SELECT message_id, score, irate, reasons, created_at FROM message_tone WHERE ticket_id = $1 ORDER BY message_id",
        params![ticket_id],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(MessageTone {
            message_id: r.int(0)?,
            score: u32::try_from(r.int(1)?).map_err(StoreError::corrupt)?,
            irate: r.bool(2)?,
            reasons: json_text(&r.text(3)?)?,
            created_at: Millis(r.int(4)?),
        })
    })
    .collect()
}

/// The hours after which an unanswered ticket is at risk of a silent no.
pub(super) async fn silent_no_hours(c: &mut dyn Conn) -> Result<u32> {
    match c
        .query_opt(
            "SELECT value FROM settings WHERE key = $1",
            params![SILENT_NO_SETTING],
        )
        .await?
    {
        Some(r) => r.text(0)?.trim().parse().map_err(StoreError::corrupt),
        None => Ok(routing::DEFAULT_SILENT_NO_HOURS),
    }
}

// ---------------------------------------------------------------------------------------------
// Metrics

fn median(mut values: Vec<i64>) -> Option<i64> {
    values.sort_unstable();
    values.get(values.len() / 2).copied()
}

pub(super) async fn routing_metrics(
    c: &mut dyn Conn,
    since: Millis,
    now: Millis,
) -> Result<RoutingMetrics> {
    let r = c
        .query_one(
            // PostgreSQL sums integers as NUMERIC: cast back.
            "SELECT count(*), CAST(COALESCE(sum(CASE WHEN transfers = 0 THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(sum(transfers), 0) AS BIGINT) FROM tickets WHERE solved_at >= $1",
            params![since.0],
        )
        .await?;
    let (resolved, one_touch, transfers) = (r.int(0)?, r.int(1)?, r.int(2)?);
    let honest: Vec<i64> = c
        .query(
            "SELECT answered_after_ms FROM referrals WHERE created_at >= $1",
            params![since.0],
        )
        .await?
        .iter()
        .map(|r| r.int(0))
        .collect::<Result<_>>()?;
    let names = super::sla::names(c, "teams").await?;
    let mut per_team: std::collections::BTreeMap<i64, (InternalWait, Vec<i64>)> =
        Default::default();
    for r in c
        .query(
            "SELECT team_id, status, escalated_at, created_at, closed_at FROM internal_requests WHERE created_at >= $1",
            params![since.0],
        )
        .await?
    {
        let team = r.int(0)?;
        let (wait, done) = per_team.entry(team).or_insert_with(|| {
            (
                InternalWait {
                    team_id: team,
                    name: names.get(&team).cloned().unwrap_or_default(),
                    asked: 0,
                    open: 0,
                    overdue: 0,
                    waited_minutes: 0,
                    median_minutes_to_done: None,
                },
                Vec::new(),
            )
        });
        let status = InternalStatus::parse(&r.text(1)?)?;
        let (created, closed) = (r.int(3)?, r.opt_int(4)?);
        wait.asked += 1;
        wait.open += i64::from(status == InternalStatus::Open);
        wait.overdue += i64::from(r.opt_int(2)?.is_some());
        wait.waited_minutes += (closed.unwrap_or(now.0) - created) / 60_000;
        if status == InternalStatus::Done {
            done.push((closed.unwrap_or(now.0) - created) / 60_000);
        }
    }
    Ok(RoutingMetrics {
        resolved,
        one_touch,
        one_touch_rate: routing::one_touch_rate(
            u64::try_from(resolved).unwrap_or(0),
            u64::try_from(resolved - one_touch).unwrap_or(0),
        ),
        transfers_per_ticket: (resolved > 0).then(|| transfers as f64 / resolved as f64),
        referred: honest.len() as i64,
        median_minutes_to_honest_answer: median(honest).map(|ms| ms / 60_000),
        internal: per_team
            .into_values()
            .map(|(mut wait, done)| {
                wait.median_minutes_to_done = median(done);
                wait
            })
            .collect(),
    })
}
