//! Principles 4, 5 and 10: who owns a ticket, how ownership moves, how other departments help
//! without taking the customer over, and how we say "we can't" early.
//!
//! - **Assignment** ([`choose`]): per team, manual, round-robin or least-loaded under each
//!   agent's capacity; only agents who are online and inside their working hours take tickets;
//!   skills (a customer's language, a product tag, `de-escalation` for an irate customer) are
//!   matched against the ticket's [`Needs`], most matched first; a returning customer goes back
//!   to the agent who helped them last when that agent can take it (relationship continuity).
//!   Every choice says why, so the ticket's history can too.
//! - **One touch**: a ticket has one owner; a change of owner away from someone is a transfer
//!   with a reason ([`transfer_reason`]), and [`one_touch_rate`] counts tickets resolved without
//!   one.
//! - **Internal requests**: the owner asks another team for something specific by a due time
//!   ([`internal_due`]); the request's status moves by [`InternalStatus::after`].
//! - **Honest answers**: a [`Referral`] (who can help, how to reach them) closes a ticket we
//!   cannot help with; [`Referral::reply_text`] is what the customer reads.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::tags::normalize_tag;
use crate::{Invalid, Millis, one_line, parse_name};

/// The skill an irate customer needs (see `tone`).
pub const DE_ESCALATION: &str = "de-escalation";

/// How long a ticket may wait for its first substantive reply before supervisors see it as
/// "at risk of a silent no", unless configured.
pub const DEFAULT_SILENT_NO_HOURS: u32 = 48;
/// Most hours the silent-no threshold takes: 30 days.
pub const MAX_SILENT_NO_HOURS: u32 = 30 * 24;

/// Checks the silent-no threshold an admin set.
pub fn silent_no_hours(hours: u32) -> Result<u32, Invalid> {
    if (1..=MAX_SILENT_NO_HOURS).contains(&hours) {
        Ok(hours)
    } else {
        Err(Invalid::new(
            "hours",
            format!("must be between 1 and {MAX_SILENT_NO_HOURS} hours"),
        ))
    }
}

/// Longest transfer reason, referral line or internal-request text, in characters.
pub const MAX_REASON_CHARS: usize = 500;
pub const MAX_REQUEST_CHARS: usize = 10_000;

/// How a team's new tickets get an owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AssignmentMode {
    /// Tickets wait in the team's queue until an agent takes one.
    #[default]
    Manual,
    /// The available agent who was given a ticket longest ago.
    RoundRobin,
    /// The available agent with the most room under their capacity.
    LeastLoaded,
}

impl AssignmentMode {
    pub const ALL: [Self; 3] = [Self::Manual, Self::RoundRobin, Self::LeastLoaded];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::RoundRobin => "round_robin",
            Self::LeastLoaded => "least_loaded",
        }
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        parse_name(
            "assignment",
            "an assignment mode",
            Self::ALL,
            Self::as_str,
            text,
        )
    }
}

/// What an agent said about being reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    #[default]
    Online,
    Away,
    Offline,
}

impl Availability {
    pub const ALL: [Self; 3] = [Self::Online, Self::Away, Self::Offline];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Away => "away",
            Self::Offline => "offline",
        }
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        parse_name(
            "availability",
            "an availability",
            Self::ALL,
            Self::as_str,
            text,
        )
    }
}

/// A team's routing settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct TeamRouting {
    pub assignment: AssignmentMode,
    /// Give a returning customer's new ticket to the agent who helped them last.
    pub continuity: bool,
    /// An owner away or offline this long gets their open tickets re-offered to the team.
    pub reoffer_after_minutes: u32,
    /// How long the team has to answer an internal request unless the asker gives a due time.
    pub internal_due_minutes: u32,
    /// Who overdue internal requests escalate to (else the team's supervisors).
    pub lead_agent_id: Option<i64>,
}

impl Default for TeamRouting {
    fn default() -> Self {
        Self {
            assignment: AssignmentMode::Manual,
            continuity: true,
            reoffer_after_minutes: 30,
            internal_due_minutes: 8 * 60,
            lead_agent_id: None,
        }
    }
}

/// Longest re-offer delay and internal due time: four weeks.
const MAX_MINUTES: u32 = 28 * 24 * 60;

impl TeamRouting {
    pub fn validate(&self) -> Result<(), Invalid> {
        for (field, value) in [
            ("reoffer_after_minutes", self.reoffer_after_minutes),
            ("internal_due_minutes", self.internal_due_minutes),
        ] {
            if value == 0 || value > MAX_MINUTES {
                return Err(Invalid::new(
                    field,
                    format!("must be between 1 and {MAX_MINUTES} minutes"),
                ));
            }
        }
        Ok(())
    }
}

/// Agents' skills share the tags' canonical spelling, so a `billing` tag meets a `billing`
/// skill whatever the case or spacing.
pub fn normalize_skills<S: AsRef<str>>(raw: &[S]) -> Result<BTreeSet<String>, Invalid> {
    const MAX_SKILLS: usize = 50;
    let skills = raw
        .iter()
        .map(|s| normalize_tag(s.as_ref()).map_err(|e| Invalid::new("skills", e.problem)))
        .collect::<Result<BTreeSet<_>, _>>()?;
    if skills.len() > MAX_SKILLS {
        return Err(Invalid::new(
            "skills",
            format!("at most {MAX_SKILLS} skills are allowed"),
        ));
    }
    Ok(skills)
}

/// What a ticket asks of its owner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs(pub BTreeSet<String>);

impl Needs {
    /// The customer's language (`de`), the ticket's tags that some agent has as a skill (a
    /// product, `billing`), and [`DE_ESCALATION`] for an irate customer. Tags nobody has as a
    /// skill are ordinary labels, not needs.
    pub fn of(
        language: Option<&str>,
        tags: &[String],
        known_skills: &BTreeSet<String>,
        irate: bool,
    ) -> Self {
        let mut needs = BTreeSet::new();
        if let Some(lang) = language
            .and_then(|l| normalize_tag(l).ok())
            .filter(|l| known_skills.contains(l))
        {
            needs.insert(lang);
        }
        needs.extend(tags.iter().filter(|t| known_skills.contains(*t)).cloned());
        if irate {
            needs.insert(DE_ESCALATION.to_string());
        }
        Self(needs)
    }

    fn matched<'a>(&'a self, skills: &'a BTreeSet<String>) -> impl Iterator<Item = &'a String> {
        self.0.iter().filter(|n| skills.contains(*n))
    }
}

/// An agent who might take a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub agent_id: i64,
    pub availability: Availability,
    /// Inside their working hours (true when they have none set).
    pub on_shift: bool,
    /// Open tickets they own now.
    pub load: u32,
    pub capacity: u32,
    pub skills: BTreeSet<String>,
    /// When they were last given a ticket by routing (round robin's order).
    pub last_assigned_at: Millis,
}

impl Candidate {
    pub fn can_take(&self) -> bool {
        self.availability == Availability::Online && self.on_shift && self.load < self.capacity
    }
}

/// Why routing picked an owner: shown in the ticket's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RouteReason {
    /// The agent who helped this customer last.
    Continuity,
    RoundRobin,
    LeastLoaded,
}

impl RouteReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Continuity => "continuity",
            Self::RoundRobin => "round_robin",
            Self::LeastLoaded => "least_loaded",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Choice {
    pub agent_id: i64,
    pub reason: RouteReason,
    /// The ticket's needs this agent has.
    pub matched: Vec<String>,
    /// Needs nobody who could take the ticket has.
    pub unmet: Vec<String>,
}

/// Picks an owner among `candidates` (the team's members), or `None` when nobody can take
/// the ticket now (it waits in the queue and is offered again when someone can).
///
/// Skills first: only the agents matching the most needs are considered, so a German-speaking
/// agent gets the German customer even if another agent is freer. Then continuity (the last
/// helper, if among them and the team wants it), then the team's mode.
pub fn choose(
    routing: &TeamRouting,
    candidates: &[Candidate],
    needs: &Needs,
    last_helper: Option<i64>,
) -> Option<Choice> {
    if routing.assignment == AssignmentMode::Manual {
        return None;
    }
    let able: Vec<&Candidate> = candidates.iter().filter(|c| c.can_take()).collect();
    let best = able
        .iter()
        .map(|c| needs.matched(&c.skills).count())
        .max()?;
    let fitting: Vec<&Candidate> = able
        .into_iter()
        .filter(|c| needs.matched(&c.skills).count() == best)
        .collect();
    let (chosen, reason) = match fitting
        .iter()
        .find(|c| routing.continuity && Some(c.agent_id) == last_helper)
    {
        Some(c) => (*c, RouteReason::Continuity),
        None => match routing.assignment {
            AssignmentMode::LeastLoaded => (
                *fitting.iter().min_by(|a, b| {
                    // Room left as a share of capacity: 3 of 10 is busier than 3 of 30.
                    (u64::from(a.load) * u64::from(b.capacity))
                        .cmp(&(u64::from(b.load) * u64::from(a.capacity)))
                        .then(a.last_assigned_at.cmp(&b.last_assigned_at))
                        .then(a.agent_id.cmp(&b.agent_id))
                })?,
                RouteReason::LeastLoaded,
            ),
            _ => (
                *fitting
                    .iter()
                    .min_by_key(|c| (c.last_assigned_at, c.agent_id))?,
                RouteReason::RoundRobin,
            ),
        },
    };
    let matched: Vec<String> = needs.matched(&chosen.skills).cloned().collect();
    let unmet = needs
        .0
        .iter()
        .filter(|n| !matched.contains(n))
        .cloned()
        .collect();
    Some(Choice {
        agent_id: chosen.agent_id,
        reason,
        matched,
        unmet,
    })
}

/// Whether an owner has been away long enough for the team to take their tickets back.
pub fn owner_gone(
    availability: Availability,
    since: Millis,
    now: Millis,
    routing: &TeamRouting,
) -> bool {
    availability != Availability::Online
        && now.0 - since.0 >= i64::from(routing.reoffer_after_minutes) * 60_000
}

/// A transfer's reason: required, one line.
pub fn transfer_reason(raw: &str) -> Result<String, Invalid> {
    one_line("transfer_reason", raw, MAX_REASON_CHARS)
}

/// Share of resolved tickets that were never transferred; `None` when none were resolved.
pub fn one_touch_rate(resolved: u64, transferred: u64) -> Option<f64> {
    (resolved > 0).then(|| resolved.saturating_sub(transferred) as f64 / resolved as f64)
}

/// Where an internal request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InternalStatus {
    /// Waiting on the asked team.
    Open,
    /// The team answered and called it done.
    Done,
    /// The asker withdrew it.
    Cancelled,
}

impl InternalStatus {
    pub const ALL: [Self; 3] = [Self::Open, Self::Done, Self::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Done => "done",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        parse_name(
            "status",
            "an internal request status",
            Self::ALL,
            Self::as_str,
            text,
        )
    }

    /// Only an open request moves, and only to done or cancelled; done and cancelled are final
    /// (a new need is a new request, with its own clock).
    pub fn after(self, next: Self) -> Result<Self, Invalid> {
        match (self, next) {
            (Self::Open, Self::Done | Self::Cancelled) => Ok(next),
            _ => Err(Invalid::new(
                "status",
                format!(
                    "an internal request that is {} cannot become {}",
                    self.as_str(),
                    next.as_str()
                ),
            )),
        }
    }
}

/// The internal request's text: what exactly the owner needs from the other team.
pub fn request_text(field: &str, raw: &str) -> Result<String, Invalid> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    if text.chars().count() > MAX_REQUEST_CHARS {
        return Err(Invalid::new(
            field,
            format!("must be at most {MAX_REQUEST_CHARS} characters"),
        ));
    }
    Ok(text.to_string())
}

/// The due time of an internal request: the one asked for (in the future, within four weeks),
/// else the team's default.
pub fn internal_due(
    asked: Option<Millis>,
    now: Millis,
    routing: &TeamRouting,
) -> Result<Millis, Invalid> {
    match asked {
        None => Ok(Millis(
            now.0 + i64::from(routing.internal_due_minutes) * 60_000,
        )),
        Some(due) if due.0 <= now.0 => Err(Invalid::new("due_at", "must be in the future")),
        Some(due) if due.0 - now.0 > i64::from(MAX_MINUTES) * 60_000 => {
            Err(Invalid::new("due_at", "must be within four weeks"))
        }
        Some(due) => Ok(due),
    }
}

/// "We can't help — but they can": the resolution of a ticket we cannot solve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Referral {
    /// Who can help ("Your bank", "The manufacturer's repair service").
    pub referred_to: String,
    /// How to reach them (a phone number, an address, a web page).
    pub how_to_reach: String,
}

impl Referral {
    pub fn validate(&self) -> Result<Self, Invalid> {
        Ok(Self {
            referred_to: one_line("referral.referred_to", &self.referred_to, MAX_REASON_CHARS)?,
            how_to_reach: one_line(
                "referral.how_to_reach",
                &self.how_to_reach,
                MAX_REASON_CHARS,
            )?,
        })
    }

    /// The paragraph appended to the agent's reply, in the customer's language, so no referral
    /// reaches a customer without saying who and how.
    pub fn reply_text(&self, language: &str) -> String {
        if language.starts_with("de") {
            format!(
                "Wir können Ihnen hierbei leider nicht selbst helfen. Weiterhelfen kann: {}\nSo erreichen Sie sie: {}",
                self.referred_to, self.how_to_reach
            )
        } else {
            format!(
                "We are not able to help with this ourselves. Who can help: {}\nHow to reach them: {}",
                self.referred_to, self.how_to_reach
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skills(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn agent(id: i64, load: u32, capacity: u32, last: i64, list: &[&str]) -> Candidate {
        Candidate {
            agent_id: id,
            availability: Availability::Online,
            on_shift: true,
            load,
            capacity,
            skills: skills(list),
            last_assigned_at: Millis(last),
        }
    }

    fn mode(assignment: AssignmentMode) -> TeamRouting {
        TeamRouting {
            assignment,
            ..TeamRouting::default()
        }
    }

    #[test]
    fn manual_teams_never_route() {
        let team = [agent(1, 0, 10, 0, &[])];
        assert_eq!(
            choose(
                &mode(AssignmentMode::Manual),
                &team,
                &Needs::default(),
                None
            ),
            None
        );
    }

    #[test]
    fn round_robin_takes_the_longest_waiting_agent() {
        let team = [
            agent(1, 0, 10, 300, &[]),
            agent(2, 5, 10, 100, &[]),
            agent(3, 0, 10, 200, &[]),
        ];
        let c = choose(
            &mode(AssignmentMode::RoundRobin),
            &team,
            &Needs::default(),
            None,
        )
        .unwrap();
        assert_eq!((c.agent_id, c.reason), (2, RouteReason::RoundRobin));
    }

    #[test]
    fn least_loaded_compares_room_under_capacity() {
        // 3 of 10 is busier than 5 of 30.
        let team = [agent(1, 3, 10, 0, &[]), agent(2, 5, 30, 0, &[])];
        let c = choose(
            &mode(AssignmentMode::LeastLoaded),
            &team,
            &Needs::default(),
            None,
        )
        .unwrap();
        assert_eq!((c.agent_id, c.reason), (2, RouteReason::LeastLoaded));
    }

    #[test]
    fn full_away_offline_and_off_shift_agents_are_skipped() {
        let mut away = agent(1, 0, 10, 0, &[]);
        away.availability = Availability::Away;
        let full = agent(2, 10, 10, 0, &[]);
        let mut off_shift = agent(3, 0, 10, 0, &[]);
        off_shift.on_shift = false;
        let mut offline = agent(4, 0, 10, 0, &[]);
        offline.availability = Availability::Offline;
        let team = [away, full, off_shift, offline];
        assert_eq!(
            choose(
                &mode(AssignmentMode::RoundRobin),
                &team,
                &Needs::default(),
                None
            ),
            None
        );
        let free = agent(5, 9, 10, 0, &[]);
        let mut team = team.to_vec();
        team.push(free);
        let c = choose(
            &mode(AssignmentMode::LeastLoaded),
            &team,
            &Needs::default(),
            None,
        )
        .unwrap();
        assert_eq!(c.agent_id, 5);
    }

    #[test]
    fn skills_beat_load_and_unmet_needs_are_reported() {
        let needs = Needs::of(
            Some("DE"),
            &["billing".into(), "vip".into()],
            &skills(&["de", "billing", DE_ESCALATION]),
            true,
        );
        assert_eq!(needs.0, skills(&["billing", "de", DE_ESCALATION]));
        let team = [
            agent(1, 0, 10, 0, &[]),
            agent(2, 8, 10, 0, &["de", "billing"]),
            agent(3, 0, 10, 0, &["de"]),
        ];
        let c = choose(&mode(AssignmentMode::LeastLoaded), &team, &needs, None).unwrap();
        assert_eq!(c.agent_id, 2);
        assert_eq!(c.matched, vec!["billing".to_string(), "de".to_string()]);
        assert_eq!(c.unmet, vec![DE_ESCALATION.to_string()]);
    }

    #[test]
    fn continuity_wins_among_equally_fitting_agents_only() {
        let team = [agent(1, 0, 10, 0, &[]), agent(2, 9, 10, 50, &[])];
        let routing = mode(AssignmentMode::LeastLoaded);
        let c = choose(&routing, &team, &Needs::default(), Some(2)).unwrap();
        assert_eq!((c.agent_id, c.reason), (2, RouteReason::Continuity));
        // Turned off: the least loaded.
        let off = TeamRouting {
            continuity: false,
            ..routing
        };
        assert_eq!(
            choose(&off, &team, &Needs::default(), Some(2))
                .unwrap()
                .agent_id,
            1
        );
        // The last helper is full: someone else, not a wait.
        let full = [agent(1, 0, 10, 0, &[]), agent(2, 10, 10, 50, &[])];
        assert_eq!(
            choose(&routing, &full, &Needs::default(), Some(2))
                .unwrap()
                .agent_id,
            1
        );
        // An irate customer goes to de-escalation even if the last helper is free.
        let team = [
            agent(1, 0, 10, 0, &[DE_ESCALATION]),
            agent(2, 0, 10, 0, &[]),
        ];
        let needs = Needs::of(None, &[], &skills(&[DE_ESCALATION]), true);
        assert_eq!(
            choose(&routing, &team, &needs, Some(2)).unwrap().agent_id,
            1
        );
    }

    #[test]
    fn owners_are_gone_after_the_teams_delay() {
        let team = TeamRouting {
            reoffer_after_minutes: 30,
            ..TeamRouting::default()
        };
        let since = Millis(0);
        assert!(!owner_gone(
            Availability::Online,
            since,
            Millis(10 * 3_600_000),
            &team
        ));
        assert!(!owner_gone(
            Availability::Away,
            since,
            Millis(29 * 60_000),
            &team
        ));
        assert!(owner_gone(
            Availability::Away,
            since,
            Millis(30 * 60_000),
            &team
        ));
        assert!(owner_gone(
            Availability::Offline,
            since,
            Millis(31 * 60_000),
            &team
        ));
    }

    #[test]
    fn one_touch_rate_counts_untransferred_resolutions() {
        assert_eq!(one_touch_rate(0, 0), None);
        assert_eq!(one_touch_rate(4, 1), Some(0.75));
    }

    #[test]
    fn internal_requests_move_only_from_open() {
        use InternalStatus::*;
        assert_eq!(Open.after(Done), Ok(Done));
        assert_eq!(Open.after(Cancelled), Ok(Cancelled));
        assert!(Done.after(Cancelled).is_err());
        assert!(Cancelled.after(Open).is_err());
        assert!(Open.after(Open).is_err());
    }

    #[test]
    fn internal_due_defaults_to_the_team_and_checks_the_asked_time() {
        let team = TeamRouting {
            internal_due_minutes: 60,
            ..TeamRouting::default()
        };
        let now = Millis(1_000_000);
        assert_eq!(
            internal_due(None, now, &team),
            Ok(Millis(1_000_000 + 3_600_000))
        );
        assert_eq!(
            internal_due(Some(Millis(2_000_000)), now, &team),
            Ok(Millis(2_000_000))
        );
        assert_eq!(
            internal_due(Some(now), now, &team).unwrap_err().field,
            "due_at"
        );
        assert!(internal_due(Some(Millis(now.0 + 29 * 86_400_000)), now, &team).is_err());
    }

    #[test]
    fn settings_and_texts_are_checked() {
        let bad = TeamRouting {
            reoffer_after_minutes: 0,
            ..TeamRouting::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "reoffer_after_minutes");
        assert!(TeamRouting::default().validate().is_ok());
        assert_eq!(transfer_reason("  ").unwrap_err().field, "transfer_reason");
        assert_eq!(transfer_reason(" needs  German ").unwrap(), "needs German");
        assert_eq!(request_text("body", " ").unwrap_err().field, "body");
        assert_eq!(
            AssignmentMode::parse("round_robin"),
            Ok(AssignmentMode::RoundRobin)
        );
        assert!(
            Availability::parse("busy")
                .unwrap_err()
                .problem
                .contains("away")
        );
        assert_eq!(
            normalize_skills(&["De-Escalation", "de-escalation", "Billing"]).unwrap(),
            skills(&["billing", DE_ESCALATION])
        );
        assert_eq!(normalize_skills(&["a b!"]).unwrap_err().field, "skills");
        assert_eq!(silent_no_hours(48), Ok(48));
        assert_eq!(silent_no_hours(0).unwrap_err().field, "hours");
        assert!(silent_no_hours(MAX_SILENT_NO_HOURS + 1).is_err());
        let tone = crate::tone::ToneConfig {
            threshold: 40,
            extra_phrases: vec![(" Acme   Cloud ".into(), 30), ("".into(), 5)],
        };
        assert_eq!(
            tone.clone().validated().unwrap_err().field,
            "extra_phrases[1][0]"
        );
        let ok = crate::tone::ToneConfig {
            extra_phrases: tone.extra_phrases[..1].to_vec(),
            ..tone
        };
        assert_eq!(
            ok.validated().unwrap().extra_phrases,
            vec![("Acme Cloud".to_string(), 30)]
        );
    }

    #[test]
    fn referrals_name_who_and_how_in_the_customers_language() {
        let r = Referral {
            referred_to: " Your bank ".into(),
            how_to_reach: "the number on your card".into(),
        }
        .validate()
        .unwrap();
        assert_eq!(r.referred_to, "Your bank");
        assert!(r.reply_text("en").contains("Who can help: Your bank"));
        assert!(
            r.reply_text("de-AT")
                .contains("So erreichen Sie sie: the number on your card")
        );
        let missing = Referral {
            referred_to: "x".into(),
            how_to_reach: " ".into(),
        };
        assert_eq!(
            missing.validate().unwrap_err().field,
            "referral.how_to_reach"
        );
    }
}
