//! The access policy (SEMANTICS.md section 12) as a pure table and decision, without root or a
//! bus: every method of the seven interfaces has a declared requirement, and every row of the
//! section is checked for every method it covers, for the owner, a delegated agent, a stranger
//! and an admin, with the authorizer granting, denying or asking for a challenge.

use learning_contracts::core::access::{
    Action, Grants, METHOD_RULES, OwnerRefusal, Refusal, Relation, Requirement, Subject, Verdict,
    decide, may_read, requirement_of, resolve_owner,
};
use std::collections::BTreeMap;

const OWNER: u32 = 1000;
const AGENT: u32 = 2000;
const STRANGER: u32 = 3000;
const SECOND_OWNER: u32 = 1001;

fn delegations() -> BTreeMap<u32, Vec<u32>> {
    BTreeMap::from([(AGENT, vec![OWNER]), (4000, vec![OWNER, SECOND_OWNER])])
}

/// Section 12, row by row, with the methods each row covers.
const ROW_OWN_OR_DELEGATED: &[(&str, &str)] = &[
    ("Enforcement1", "CheckMemoryCreation"),
    ("Enforcement1", "CheckAbstraction"),
    ("Enforcement1", "CheckRecall"),
    ("Enforcement1", "CheckExport"),
    ("Enforcement1", "CheckBatch"),
    ("Enforcement1", "RegisterMemory"),
    ("Sessions1", "Open"),
];
/// Reads: anyone may call; what they see is limited by `may_read`.
const ROW_READS: &[(&str, &str)] = &[
    ("Daemon1", "Subscribe"),
    ("Contracts1", "Get"),
    ("Contracts1", "List"),
    ("Contracts1", "Summarize"),
    ("Contracts1", "Templates"),
    ("Enforcement1", "RecallGate"),
    ("Enforcement1", "ToolGate"),
    ("Boundary1", "Explain"),
    ("Memories1", "Get"),
    ("Memories1", "GetForOwner"),
    ("Memories1", "List"),
];
/// Creating a draft makes the caller its owner.
const ROW_CREATE: &[(&str, &str)] = &[
    ("Contracts1", "CreateDraft"),
    ("Contracts1", "DraftFromTemplate"),
    ("Contracts1", "DraftFromText"),
];
const ROW_OWNER: &[(&str, &str)] = &[
    ("Contracts1", "UpdateDraft"),
    ("Contracts1", "Submit"),
    ("Contracts1", "ReturnToDraft"),
    ("Contracts1", "Amend"),
    ("Contracts1", "Revoke"),
    ("Memories1", "ConfirmPurge"),
    ("Sessions1", "End"),
    ("Sessions1", "Bind"),
];
const ROW_OWN_LEARNING: &[(&str, &str)] = &[
    ("Boundary1", "PauseLearning"),
    ("Boundary1", "ResumeLearning"),
];
const ROW_CONFIRMED: &[(&str, &str)] = &[("Contracts1", "Activate"), ("Memories1", "RequestPurge")];
const ROW_ADMIN: &[(&str, &str, Action)] = &[
    ("Daemon1", "Reload", Action::Reload),
    ("Boundary1", "PauseAll", Action::PauseAll),
    ("Boundary1", "ResumeAll", Action::PauseAll),
    ("Boundary1", "SetOverride", Action::SetOverride),
    ("Boundary1", "ClearOverride", Action::SetOverride),
    ("Boundary1", "EnterLockdown", Action::EnterLockdown),
    ("Boundary1", "ReleaseLockdown", Action::ReleaseLockdown),
    ("Audit1", "Read", Action::ManageAll),
    ("Audit1", "Verify", Action::ManageAll),
    ("Audit1", "Archive", Action::ManageAll),
    ("Audit1", "SetupSealing", Action::ManageAll),
];

const VERDICTS: [Verdict; 3] = [
    Verdict::Granted,
    Verdict::Denied,
    Verdict::ChallengeRequired,
];

fn grants(admin: Verdict, confirm_own: Verdict) -> Grants {
    Grants { admin, confirm_own }
}

/// The methods the interface XML declares, as (interface short name, member).
fn declared_methods() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dbus");
    let mut methods = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let Some(interface) = name
            .strip_prefix("org.learningcontracts.")
            .and_then(|n| n.strip_suffix(".xml"))
        else {
            continue;
        };
        let xml = std::fs::read_to_string(&path).unwrap();
        for part in xml.split("<method name=\"").skip(1) {
            let member = part.split('"').next().unwrap();
            methods.push((interface.to_string(), member.to_string()));
        }
    }
    methods.sort();
    methods
}

#[test]
fn every_method_the_interface_declares_has_exactly_one_rule_and_every_row_covers_it() {
    let declared = declared_methods();
    assert!(declared.len() >= 39, "{declared:?}");
    let mut ruled: Vec<(String, String)> = METHOD_RULES
        .iter()
        .map(|r| (r.interface.to_string(), r.member.to_string()))
        .collect();
    ruled.sort();
    assert_eq!(ruled, declared, "the rule table and dbus/*.xml differ");
    let rows: usize = ROW_OWN_OR_DELEGATED.len()
        + ROW_READS.len()
        + ROW_CREATE.len()
        + ROW_OWNER.len()
        + ROW_OWN_LEARNING.len()
        + ROW_CONFIRMED.len()
        + ROW_ADMIN.len();
    assert_eq!(
        rows,
        declared.len(),
        "a method belongs to no row of section 12"
    );
}

#[test]
fn each_row_of_section_12_declares_its_requirement() {
    for (i, m) in ROW_OWN_OR_DELEGATED {
        assert_eq!(requirement_of(i, m), Some(Requirement::ForOwner), "{i}.{m}");
    }
    for (i, m) in ROW_READS.iter().chain(ROW_CREATE) {
        assert_eq!(
            requirement_of(i, m),
            Some(Requirement::AnyCaller),
            "{i}.{m}"
        );
    }
    for (i, m) in ROW_OWNER {
        assert_eq!(requirement_of(i, m), Some(Requirement::Owner), "{i}.{m}");
    }
    for (i, m) in ROW_OWN_LEARNING {
        assert_eq!(requirement_of(i, m), Some(Requirement::Caller), "{i}.{m}");
    }
    for (i, m) in ROW_CONFIRMED {
        assert_eq!(
            requirement_of(i, m),
            Some(Requirement::OwnerConfirmed),
            "{i}.{m}"
        );
    }
    for (i, m, action) in ROW_ADMIN {
        assert_eq!(
            requirement_of(i, m),
            Some(Requirement::Admin(*action)),
            "{i}.{m}"
        );
    }
    // Release is the one admin action never cached (polkit auth_admin): its own action id.
    assert_ne!(Action::ReleaseLockdown.id(), Action::EnterLockdown.id());
}

#[test]
fn anyone_may_call_the_open_methods_and_acts_only_for_itself() {
    let delegations = delegations();
    for uid in [OWNER, AGENT, STRANGER] {
        let subject = Subject::new(uid, &delegations);
        for (i, m) in ROW_READS
            .iter()
            .chain(ROW_CREATE)
            .chain(ROW_OWN_OR_DELEGATED)
            .chain(ROW_OWN_LEARNING)
        {
            let requirement = requirement_of(i, m).unwrap();
            for admin in VERDICTS {
                for confirm in VERDICTS {
                    let allowed = decide(requirement, &subject, None, grants(admin, confirm))
                        .unwrap_or_else(|e| panic!("{i}.{m} refused {uid}: {e:?}"));
                    assert!(!allowed.as_admin && !allowed.confirmed, "{i}.{m}");
                }
            }
        }
    }
}

#[test]
fn checks_registrations_and_sessions_are_for_the_callers_own_or_a_delegating_owner() {
    let delegations = delegations();
    let owner = Subject::new(OWNER, &delegations);
    assert_eq!(resolve_owner(&owner, None), Ok(OWNER));
    assert_eq!(resolve_owner(&owner, Some(OWNER)), Ok(OWNER));
    assert_eq!(
        resolve_owner(&owner, Some(SECOND_OWNER)),
        Err(OwnerRefusal::NotDelegated {
            uid: OWNER,
            owner: SECOND_OWNER
        })
    );
    let agent = Subject::new(AGENT, &delegations);
    assert_eq!(resolve_owner(&agent, None), Ok(OWNER), "one owner: implied");
    assert_eq!(resolve_owner(&agent, Some(OWNER)), Ok(OWNER));
    assert_eq!(resolve_owner(&agent, Some(AGENT)), Ok(AGENT), "itself");
    assert!(resolve_owner(&agent, Some(SECOND_OWNER)).is_err());
    let several = Subject::new(4000, &delegations);
    assert_eq!(resolve_owner(&several, None), Err(OwnerRefusal::Ambiguous));
    assert_eq!(
        resolve_owner(&several, Some(SECOND_OWNER)),
        Ok(SECOND_OWNER)
    );
    let stranger = Subject::new(STRANGER, &delegations);
    assert_eq!(resolve_owner(&stranger, None), Ok(STRANGER));
    assert!(resolve_owner(&stranger, Some(OWNER)).is_err());
}

#[test]
fn records_are_readable_by_their_owner_a_delegated_agent_and_for_system_prohibitions_by_all() {
    let delegations = delegations();
    let owner = Subject::new(OWNER, &delegations);
    let agent = Subject::new(AGENT, &delegations);
    let stranger = Subject::new(STRANGER, &delegations);
    assert_eq!(owner.relation_to(OWNER), Relation::Owner);
    assert_eq!(agent.relation_to(OWNER), Relation::Delegated);
    assert_eq!(stranger.relation_to(OWNER), Relation::Stranger);
    assert!(may_read(&owner, OWNER, false));
    assert!(may_read(&agent, OWNER, false));
    assert!(
        !may_read(&stranger, OWNER, false),
        "only an admin reads them"
    );
    assert!(
        may_read(&stranger, 0, true),
        "system prohibitions apply to all"
    );
    assert!(!may_read(&agent, SECOND_OWNER, false));
}

#[test]
fn owner_methods_admit_the_owner_refuse_the_agent_hide_from_strangers_and_admit_admins() {
    let delegations = delegations();
    for (i, m) in ROW_OWNER {
        let requirement = requirement_of(i, m).unwrap();
        for confirm in VERDICTS {
            // The owner, whatever the authorizer says.
            for admin in VERDICTS {
                let owner = Subject::new(OWNER, &delegations);
                let allowed = decide(
                    requirement,
                    &owner,
                    Some((OWNER, false)),
                    grants(admin, confirm),
                );
                assert_eq!(
                    allowed.map(|a| (a.as_admin, a.confirmed)),
                    Ok((false, false)),
                    "{i}.{m}"
                );
            }
            // An admin acts on anyone's.
            for uid in [AGENT, STRANGER] {
                let subject = Subject::new(uid, &delegations);
                let allowed = decide(
                    requirement,
                    &subject,
                    Some((OWNER, false)),
                    grants(Verdict::Granted, confirm),
                )
                .unwrap();
                assert!(allowed.as_admin, "{i}.{m}");
            }
            // Otherwise the agent is told no, and the stranger learns nothing: existing and
            // missing records answer alike.
            let agent = Subject::new(AGENT, &delegations);
            assert!(
                matches!(
                    decide(
                        requirement,
                        &agent,
                        Some((OWNER, false)),
                        grants(Verdict::Denied, confirm)
                    ),
                    Err(Refusal::Denied(_))
                ),
                "{i}.{m}"
            );
            let stranger = Subject::new(STRANGER, &delegations);
            for target in [Some((OWNER, false)), None] {
                assert_eq!(
                    decide(
                        requirement,
                        &stranger,
                        target,
                        grants(Verdict::Denied, confirm)
                    ),
                    Err(Refusal::Hidden),
                    "{i}.{m}"
                );
            }
            // An admin who has not allowed interaction is asked to, wherever the record is.
            for uid in [AGENT, STRANGER] {
                let subject = Subject::new(uid, &delegations);
                for target in [Some((OWNER, false)), None] {
                    assert!(matches!(
                        decide(
                            requirement,
                            &subject,
                            target,
                            grants(Verdict::ChallengeRequired, confirm)
                        ),
                        Err(Refusal::ChallengeRequired(_))
                    ));
                }
            }
        }
    }
}

#[test]
fn confirmed_methods_need_the_owners_human_confirmation_or_an_admin() {
    let delegations = delegations();
    let owner = Subject::new(OWNER, &delegations);
    for (i, m) in ROW_CONFIRMED {
        let requirement = requirement_of(i, m).unwrap();
        let target = Some((OWNER, false));
        let confirmed = decide(
            requirement,
            &owner,
            target,
            grants(Verdict::Denied, Verdict::Granted),
        )
        .unwrap();
        assert!(confirmed.confirmed && !confirmed.as_admin, "{i}.{m}");
        // An owner who is also an admin may act as the admin without the prompt.
        let as_admin = decide(
            requirement,
            &owner,
            target,
            grants(Verdict::Granted, Verdict::Denied),
        )
        .unwrap();
        assert!(as_admin.as_admin, "{i}.{m}");
        assert!(matches!(
            decide(
                requirement,
                &owner,
                target,
                grants(Verdict::Denied, Verdict::ChallengeRequired)
            ),
            Err(Refusal::ChallengeRequired(_))
        ));
        assert!(matches!(
            decide(
                requirement,
                &owner,
                target,
                grants(Verdict::Denied, Verdict::Denied)
            ),
            Err(Refusal::Denied(_))
        ));
        // A delegated agent never passes, however the authorizer answers ConfirmOwn.
        let agent = Subject::new(AGENT, &delegations);
        for confirm in VERDICTS {
            assert!(matches!(
                decide(
                    requirement,
                    &agent,
                    target,
                    grants(Verdict::Denied, confirm)
                ),
                Err(Refusal::Denied(_))
            ));
        }
        let stranger = Subject::new(STRANGER, &delegations);
        assert_eq!(
            decide(
                requirement,
                &stranger,
                target,
                grants(Verdict::Denied, Verdict::Granted)
            ),
            Err(Refusal::Hidden)
        );
        assert!(
            decide(
                requirement,
                &stranger,
                target,
                grants(Verdict::Granted, Verdict::Denied)
            )
            .unwrap()
            .as_admin
        );
    }
}

#[test]
fn admin_methods_need_their_action_and_nothing_else_counts() {
    let delegations = delegations();
    for (i, m, _) in ROW_ADMIN {
        let requirement = requirement_of(i, m).unwrap();
        for uid in [OWNER, AGENT, STRANGER, 0] {
            let subject = Subject::new(uid, &delegations);
            for confirm in VERDICTS {
                for target in [None, Some((uid, false)), Some((OWNER, true))] {
                    assert!(
                        decide(
                            requirement,
                            &subject,
                            target,
                            grants(Verdict::Granted, confirm)
                        )
                        .unwrap()
                        .as_admin
                    );
                    assert!(
                        matches!(
                            decide(
                                requirement,
                                &subject,
                                target,
                                grants(Verdict::Denied, confirm)
                            ),
                            Err(Refusal::Denied(_))
                        ),
                        "{i}.{m}: being the owner or confirming is not enough"
                    );
                    assert!(matches!(
                        decide(
                            requirement,
                            &subject,
                            target,
                            grants(Verdict::ChallengeRequired, confirm)
                        ),
                        Err(Refusal::ChallengeRequired(_))
                    ));
                }
            }
        }
    }
}
