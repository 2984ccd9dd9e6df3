//! Plain language (spec sections 6.2, 14 and 15): the summary a person approves for every kind,
//! retention and scope form; the templates, their specs and their errors; and the
//! deterministic sentence reader, including the sentences it must refuse to guess about and
//! whole-word matching.

use learning_contracts::core::plain::text::{
    ASK_BAD_DATE, ASK_CONTEXT, ASK_DOMAIN, ASK_KIND, ASK_MIXED, ASK_PAST_DATE,
    ASK_PROHIBITION_SESSION, ASK_RETENTION, ASK_RETENTION_CONFLICT, ASK_SHARING, ASK_TOOLS,
};
use learning_contracts::core::plain::{
    TEMPLATES, TemplateError, draft_from_text, format_utc, instantiate, parse_iso_date, summarize,
    templates,
};
use learning_contracts::core::{
    Abstraction, BoundaryMode, ContractKind, ContractSpec, MemoryClass, Name, RetentionKind, Scope,
    SpecPatch, Timestamp,
};
use std::collections::BTreeMap;

/// 2026-06-01 12:00 UTC.
const NOW_SECS: i64 = 1_780_315_200;
const HOUR_SECS: i64 = 3_600;
const DAY_SECS: i64 = 86_400;
/// 2026-12-31 17:00 UTC.
const END_OF_2026_SECS: i64 = 1_798_736_400;
/// 2027-03-01 00:00 UTC.
const MARCH_2027_SECS: i64 = 1_803_859_200;

fn now() -> Timestamp {
    Timestamp::from_secs(NOW_SECS)
}

fn names(raw: &[&str]) -> Vec<Name> {
    raw.iter().map(|r| Name::parse(r).unwrap()).collect()
}

fn scope(domains: &[&str], contexts: &[&str], tools: &[&str]) -> Scope {
    Scope {
        domains: names(domains),
        contexts: names(contexts),
        tools: names(tools),
    }
}

/// A complete spec that can be approved, for `kind`.
fn spec(kind: ContractKind) -> ContractSpec {
    let tools: &[&str] = if kind == ContractKind::Prohibited {
        &[]
    } else {
        &["editor"]
    };
    ContractSpec {
        scope: scope(&["coding"], &["work"], tools),
        retention: Some(RetentionKind::Permanent),
        ..ContractSpec::default()
    }
}

#[track_caller]
fn assert_has(text: &str, phrases: &[&str]) {
    for phrase in phrases {
        assert!(text.contains(phrase), "missing {phrase:?} in:\n{text}");
    }
}

#[track_caller]
fn assert_lacks(text: &str, phrases: &[&str]) {
    for phrase in phrases {
        assert!(!text.contains(phrase), "unexpected {phrase:?} in:\n{text}");
    }
}

fn summary(kind: ContractKind, spec: &ContractSpec) -> String {
    summarize(kind, spec, now())
}

// ---------------------------------------------------------------------------------------------
// Summaries
// ---------------------------------------------------------------------------------------------

#[test]
fn summary_for_each_kind_says_what_it_allows() {
    let expected: [(ContractKind, &[&str]); 5] = [
        (
            ContractKind::Observation,
            &[
                "You allow the assistant to watch",
                "keeps nothing and learns nothing",
            ],
        ),
        (
            ContractKind::Episodic,
            &[
                "remember specific episodes about coding",
                "may not generalize",
            ],
        ),
        (
            ContractKind::Procedural,
            &[
                "learn and reuse tips about coding",
                "reusable rules of thumb (heuristics), never to longer-term strategies",
            ],
        ),
        (
            ContractKind::Strategic,
            &[
                "form longer-term strategies about coding",
                "only while this computer is in TRUSTED mode",
                "or a more isolated one",
            ],
        ),
        (
            ContractKind::Prohibited,
            &[
                "The assistant may never learn anything about coding",
                "overrides every other contract",
                "It cannot be revoked",
            ],
        ),
    ];
    for (kind, phrases) in expected {
        let spec = spec(kind);
        assert!(spec.problems(kind, true, now()).is_empty(), "{kind}");
        let text = summary(kind, &spec);
        assert_has(&text, phrases);
        assert_has(&text, &["Nothing will leave this machine."]);
        assert_lacks(&text, &["cannot be approved", "Before it can be approved"]);
        if kind == ContractKind::Prohibited {
            assert_lacks(&text, &["You can revoke"]);
        } else {
            assert!(text.ends_with("You can revoke this at any time."), "{text}");
        }
    }
}

#[test]
fn summary_matches_the_spirit_of_the_spec_example() {
    let spec = ContractSpec {
        scope: scope(&["coding"], &["personal"], &["vscode"]),
        retention: Some(RetentionKind::Permanent),
        ..ContractSpec::default()
    };
    assert_eq!(
        summary(ContractKind::Procedural, &spec),
        "You allow the assistant to learn and reuse tips about coding in the personal context \
         using the vscode. It may generalize as far as reusable rules of thumb (heuristics), never \
         to longer-term strategies. This contract lasts until you revoke it. It may handle \
         information up to secret (level 3 of 5), never anything more sensitive. Nothing will \
         leave this machine. You can revoke this at any time."
    );
}

#[test]
fn summary_states_every_retention() {
    let with = |retention, until| ContractSpec {
        retention,
        retention_until: until,
        ..spec(ContractKind::Episodic)
    };
    let episodic = ContractKind::Episodic;

    let permanent = summary(episodic, &with(Some(RetentionKind::Permanent), None));
    assert_has(&permanent, &["lasts until you revoke it."]);
    assert_lacks(&permanent, &["frozen"]);

    let timebound = summary(
        episodic,
        &with(
            Some(RetentionKind::Timebound),
            Some(Timestamp::from_secs(END_OF_2026_SECS)),
        ),
    );
    assert_has(
        &timebound,
        &[
            "lasts until 31 December 2026, 17:00 UTC.",
            "When it ends, what was learned is frozen",
        ],
    );
    assert_lacks(&timebound, &["cannot be approved"]);

    let session = summary(episodic, &with(Some(RetentionKind::Session), None));
    assert_has(
        &session,
        &["only for the session it is bound to.", "frozen"],
    );

    let undecided = summary(episodic, &with(None, None));
    assert_has(&undecided, &["not yet decided", "cannot be approved"]);
    assert!(undecided.ends_with("You can revoke this at any time."));

    let no_end = summary(episodic, &with(Some(RetentionKind::Timebound), None));
    assert_has(&no_end, &["no end time is set yet", "cannot be approved"]);

    let past = summary(
        episodic,
        &with(
            Some(RetentionKind::Timebound),
            Some(Timestamp::from_secs(NOW_SECS - DAY_SECS)),
        ),
    );
    assert_has(
        &past,
        &[
            "31 May 2026, 12:00 UTC, which has already passed",
            "cannot be approved",
        ],
    );
}

#[test]
fn prohibition_summary_ends_by_how_it_expires() {
    let prohibited = ContractKind::Prohibited;
    let permanent = summary(prohibited, &spec(prohibited));
    assert_has(
        &permanent,
        &["This prohibition is permanent.", "never ends."],
    );
    assert!(
        permanent.ends_with("It cannot be revoked, and since it is permanent it never ends."),
        "{permanent}"
    );

    let timebound = ContractSpec {
        retention: Some(RetentionKind::Timebound),
        retention_until: Some(Timestamp::from_secs(MARCH_2027_SECS)),
        ..spec(prohibited)
    };
    let text = summary(prohibited, &timebound);
    assert_has(
        &text,
        &["This prohibition lasts until 1 March 2027, 00:00 UTC."],
    );
    assert!(
        text.ends_with("It cannot be revoked; it ends only when it expires."),
        "{text}"
    );
    // Prohibitions apply whatever the tool and in every mode: neither is mentioned.
    assert_lacks(&text, &["tool", "mode", "frozen", "level"]);

    let system = ContractSpec {
        system: true,
        ..spec(prohibited)
    };
    assert_has(
        &summary(prohibited, &system),
        &["It applies to every user of this computer."],
    );
}

#[test]
fn summary_states_every_scope_form() {
    let procedural = ContractKind::Procedural;
    let with = |scope| ContractSpec {
        scope,
        ..spec(procedural)
    };
    let cases: [(Scope, &[&str]); 7] = [
        (
            scope(&["coding", "debugging"], &["*"], &["*"]),
            &["about coding and debugging in any context using any tool."],
        ),
        (
            scope(&["coding", "debugging", "testing"], &["work"], &[]),
            &["about coding, debugging and testing in the work context, not through any tool."],
        ),
        (
            scope(&["coding"], &["work", "home"], &["editor", "debugger"]),
            &["in the work and home contexts using the editor and the debugger."],
        ),
        (
            scope(&["coding"], &["a", "b", "c"], &["git"]),
            &["in the a, b and c contexts using the git."],
        ),
        (
            scope(&["music"], &["*"], &[]),
            &["about music in any context, not through any tool."],
        ),
        (
            scope(&[], &["work"], &[]),
            &["a subject not yet named", "name at least one domain"],
        ),
        (
            scope(&["coding"], &[], &[]),
            &["in a context not yet named", "name at least one context"],
        ),
    ];
    for (scope, phrases) in cases {
        assert_has(&summary(procedural, &with(scope)), phrases);
    }
}

#[test]
fn summary_states_the_classification_cap_in_words() {
    let cases = [
        (
            MemoryClass::Public,
            "only handle information that is public.",
        ),
        (MemoryClass::Internal, "up to internal (level 1 of 5)"),
        (
            MemoryClass::Confidential,
            "up to confidential (level 2 of 5)",
        ),
        (MemoryClass::Secret, "up to secret (level 3 of 5)"),
    ];
    for (cap, phrase) in cases {
        let spec = ContractSpec {
            classification_cap: Some(cap),
            ..spec(ContractKind::Episodic)
        };
        assert_has(&summary(ContractKind::Episodic, &spec), &[phrase]);
    }
    // The kind's own cap when none is stated.
    assert_has(
        &summary(ContractKind::Strategic, &spec(ContractKind::Strategic)),
        &["up to top secret (level 4 of 5), never anything more sensitive."],
    );
    // A cap above the kind's is shown with the reason it cannot be approved.
    let too_high = ContractSpec {
        classification_cap: Some(MemoryClass::CrownJewel),
        ..spec(ContractKind::Procedural)
    };
    assert_has(
        &summary(ContractKind::Procedural, &too_high),
        &[
            "up to crown jewel (level 5 of 5)",
            "Before it can be approved:",
        ],
    );
    // Observation keeps nothing, so no cap is mentioned.
    assert_lacks(
        &summary(ContractKind::Observation, &spec(ContractKind::Observation)),
        &["level", "information"],
    );
}

#[test]
fn summary_states_the_required_mode_only_when_stricter() {
    let procedural = ContractKind::Procedural;
    assert_lacks(&summary(procedural, &spec(procedural)), &["mode"]);
    let stated_default = ContractSpec {
        required_mode: Some(BoundaryMode::Open),
        ..spec(procedural)
    };
    assert_lacks(&summary(procedural, &stated_default), &["mode"]);

    let airgap = ContractSpec {
        required_mode: Some(BoundaryMode::Airgap),
        ..spec(procedural)
    };
    assert_has(
        &summary(procedural, &airgap),
        &[
            "It may learn only while this computer is in AIRGAP mode (no network at all) or a more isolated one.",
        ],
    );
    let observation = ContractSpec {
        required_mode: Some(BoundaryMode::Restricted),
        ..spec(ContractKind::Observation)
    };
    assert_has(
        &summary(ContractKind::Observation, &observation),
        &["It may watch only while this computer is in RESTRICTED mode"],
    );
    let strategic = ContractSpec {
        required_mode: Some(BoundaryMode::Coldroom),
        ..spec(ContractKind::Strategic)
    };
    assert_has(
        &summary(ContractKind::Strategic, &strategic),
        &["in COLDROOM mode (no network, no removable media, and all storage encrypted)"],
    );
    // A looser mode never applies: the kind's default is shown, and the problem.
    let looser = ContractSpec {
        required_mode: Some(BoundaryMode::Open),
        ..spec(ContractKind::Strategic)
    };
    assert_has(
        &summary(ContractKind::Strategic, &looser),
        &[
            "in TRUSTED mode",
            "Before it can be approved: OPEN is looser",
        ],
    );
}

#[test]
fn summary_states_sharing_presence_and_abstraction() {
    let procedural = ContractKind::Procedural;
    let shared = ContractSpec {
        transferable: true,
        ..spec(procedural)
    };
    let text = summary(procedural, &shared);
    assert_has(&text, &["may be shared outside this machine."]);
    assert_lacks(&text, &["Nothing will leave this machine."]);

    let present = ContractSpec {
        recall_requires_owner: true,
        ..spec(procedural)
    };
    assert_has(
        &summary(procedural, &present),
        &["only while you are present."],
    );
    assert_lacks(&summary(procedural, &spec(procedural)), &["present"]);

    let patterns = ContractSpec {
        max_abstraction: Some(Abstraction::Pattern),
        ..spec(procedural)
    };
    assert_has(
        &summary(procedural, &patterns),
        &["only as far as recurring patterns"],
    );
    let raw = ContractSpec {
        max_abstraction: Some(Abstraction::Raw),
        ..spec(ContractKind::Strategic)
    };
    assert_has(
        &summary(ContractKind::Strategic, &raw),
        &["may not generalize"],
    );
}

#[test]
fn summary_leaves_out_the_free_text_description() {
    let spec = ContractSpec {
        description: "This is completely harmless, approve it".to_string(),
        ..spec(ContractKind::Strategic)
    };
    assert_lacks(&summary(ContractKind::Strategic, &spec), &["harmless"]);
}

#[test]
fn dates_are_formatted_and_read_in_utc() {
    assert_eq!(
        format_utc(Timestamp::from_secs(END_OF_2026_SECS)),
        "31 December 2026, 17:00 UTC"
    );
    assert_eq!(
        format_utc(Timestamp::from_millis(0)),
        "1 January 1970, 00:00 UTC"
    );
    assert_eq!(
        format_utc(Timestamp::from_millis(-1)),
        "31 December 1969, 23:59 UTC"
    );
    // 2024-02-29 09:05 UTC.
    assert_eq!(
        format_utc(Timestamp::from_secs(1_709_197_500)),
        "29 February 2024, 09:05 UTC"
    );
    assert_eq!(
        parse_iso_date("2027-03-01"),
        Some(Timestamp::from_secs(MARCH_2027_SECS))
    );
    assert_eq!(
        parse_iso_date("2024-02-29"),
        Some(Timestamp::from_secs(1_709_164_800))
    );
    for bad in [
        "2027-02-29",
        "2027-13-01",
        "2027-00-10",
        "2027-3-1",
        "27-03-01",
        "2027/03/01",
    ] {
        assert_eq!(parse_iso_date(bad), None, "{bad}");
    }
}

// ---------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------

/// Template parameters as written in a test.
type Pairs<'a> = &'a [(&'a str, &'a str)];

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[track_caller]
fn instantiate_ok(name: &str, pairs: &[(&str, &str)]) -> (ContractKind, ContractSpec) {
    let (kind, patch) =
        instantiate(name, &params(pairs), now()).unwrap_or_else(|error| panic!("{name}: {error}"));
    let spec = ContractSpec::default().patched(&patch);
    let problems = spec.problems(kind, true, now());
    assert!(problems.is_empty(), "{name} {pairs:?}: {problems:?}");
    assert!(!spec.transferable, "{name}");
    (kind, spec)
}

#[test]
fn templates_are_listed_and_documented() {
    assert!(TEMPLATES.len() >= 7);
    let mut seen = Vec::new();
    for template in TEMPLATES {
        assert!(!seen.contains(&template.name), "{} twice", template.name);
        seen.push(template.name);
        assert!(!template.title.is_empty() && !template.description.is_empty());
        for param in template.params {
            assert!(
                !param.description.is_empty(),
                "{}.{}",
                template.name,
                param.name
            );
            assert!(!(param.required && param.default.is_some()));
        }
        assert_eq!(templates::find(template.name), Some(template));
    }
    for name in [
        "coding-practice",
        "personal-journal",
        "study-notes",
        "work-strategy",
        "observe-only",
        "no-medical",
        "no-financial",
    ] {
        assert!(seen.contains(&name), "{name}");
    }
}

#[test]
fn every_template_with_only_its_required_params_can_be_approved() {
    for template in TEMPLATES {
        let mut given: Vec<(&str, &str)> = template
            .params
            .iter()
            .filter(|p| p.required)
            .map(|p| (p.name, "alpha"))
            .collect();
        if template.name == "study-notes" {
            given.push(("weeks", "12"));
        }
        let (kind, spec) = instantiate_ok(template.name, &given);
        assert_eq!(kind, template.kind);
        assert_has(&summary(kind, &spec), &["Nothing will leave this machine."]);
    }
}

#[test]
fn every_template_with_all_its_params_can_be_approved() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        (
            "coding-practice",
            &[
                ("project", "Alpha"),
                ("language", "python"),
                ("tool", "vscode"),
            ],
        ),
        ("coding-practice", &[("project", "alpha"), ("tool", "*")]),
        ("personal-journal", &[("context", "diary")]),
        (
            "study-notes",
            &[("course", "cs101"), ("until", "2027-03-01")],
        ),
        (
            "work-strategy",
            &[("project", "apollo"), ("mode", "airgap")],
        ),
        (
            "work-strategy",
            &[("project", "apollo"), ("mode", "COLDROOM")],
        ),
        (
            "observe-only",
            &[("domain", "cooking"), ("context", "home")],
        ),
        ("session-only", &[("domain", "travel"), ("context", "work")]),
        ("no-medical", &[("until", "2027-03-01")]),
        ("no-financial", &[("until", "2027-03-01")]),
        (
            "no-topic",
            &[
                ("domain", "gaming"),
                ("context", "work"),
                ("until", "2027-03-01"),
            ],
        ),
    ];
    for (name, pairs) in cases {
        instantiate_ok(name, pairs);
    }
}

#[test]
fn template_summaries() {
    let (kind, spec) = instantiate_ok(
        "coding-practice",
        &[
            ("project", "Alpha"),
            ("language", "Python"),
            ("tool", "vscode"),
        ],
    );
    assert_eq!(kind, ContractKind::Procedural);
    assert_eq!(
        spec.scope,
        scope(&["coding", "python"], &["alpha"], &["vscode"])
    );
    assert_has(
        &summary(kind, &spec),
        &[
            "learn and reuse tips about coding and python in the alpha context using the vscode.",
            "rules of thumb",
            "until you revoke it",
            "up to confidential",
            "Nothing will leave this machine.",
            "You can revoke this at any time.",
        ],
    );

    let (kind, spec) = instantiate_ok("personal-journal", &[]);
    assert_eq!(kind, ContractKind::Episodic);
    assert!(spec.recall_requires_owner);
    assert_has(
        &summary(kind, &spec),
        &[
            "remember specific episodes about journal in the personal context",
            "may not generalize",
            "until you revoke it",
            "up to confidential",
            "only while you are present",
            "Nothing will leave this machine.",
        ],
    );

    let (kind, spec) = instantiate_ok("study-notes", &[("course", "cs101"), ("weeks", "12")]);
    assert_eq!(kind, ContractKind::Episodic);
    assert_eq!(
        spec.retention_until,
        Some(Timestamp::from_secs(NOW_SECS + 84 * DAY_SECS))
    );
    assert_has(
        &summary(kind, &spec),
        &[
            "about study in the cs101 context",
            "lasts until 24 August 2026, 12:00 UTC.",
            "frozen",
            "up to internal",
        ],
    );
    let (_, spec) = instantiate_ok(
        "study-notes",
        &[("course", "cs101"), ("until", "2027-03-01")],
    );
    assert_has(
        &summary(kind, &spec),
        &["lasts until 1 March 2027, 00:00 UTC."],
    );

    let (kind, spec) = instantiate_ok("work-strategy", &[("project", "apollo")]);
    assert_eq!(kind, ContractKind::Strategic);
    assert_eq!(spec.required_mode, Some(BoundaryMode::Trusted));
    assert_has(
        &summary(kind, &spec),
        &[
            "form longer-term strategies about work in the apollo context",
            "only while this computer is in TRUSTED mode",
            "up to secret",
        ],
    );
    let (_, spec) = instantiate_ok(
        "work-strategy",
        &[("project", "apollo"), ("mode", "airgap")],
    );
    assert_has(&summary(kind, &spec), &["in AIRGAP mode"]);

    let (kind, spec) = instantiate_ok("observe-only", &[("domain", "cooking")]);
    assert_eq!(kind, ContractKind::Observation);
    assert_has(
        &summary(kind, &spec),
        &[
            "watch your activity about cooking in any context, not through any tool",
            "keeps nothing",
            "You can revoke this at any time.",
        ],
    );

    let (kind, spec) = instantiate_ok("session-only", &[("domain", "travel")]);
    assert_eq!(kind, ContractKind::Episodic);
    assert_has(
        &summary(kind, &spec),
        &[
            "about travel in any context",
            "only for the session it is bound to",
        ],
    );

    let (kind, spec) = instantiate_ok("no-medical", &[]);
    assert_eq!(kind, ContractKind::Prohibited);
    assert_has(
        &summary(kind, &spec),
        &[
            "may never learn anything about health and medical in any context.",
            "overrides every other contract",
            "It cannot be revoked, and since it is permanent it never ends.",
        ],
    );

    let (kind, spec) = instantiate_ok("no-financial", &[("until", "2027-03-01")]);
    assert_eq!(kind, ContractKind::Prohibited);
    assert_has(
        &summary(kind, &spec),
        &[
            "about finance, banking and money in any context.",
            "lasts until 1 March 2027, 00:00 UTC.",
            "It cannot be revoked; it ends only when it expires.",
        ],
    );

    let (kind, spec) = instantiate_ok("no-topic", &[("domain", "Gaming"), ("context", "work")]);
    assert_eq!(kind, ContractKind::Prohibited);
    assert_has(
        &summary(kind, &spec),
        &["may never learn anything about gaming in the work context."],
    );
}

#[test]
fn unknown_template_lists_the_known_ones() {
    let error = instantiate("coding", &params(&[]), now()).unwrap_err();
    let TemplateError::UnknownTemplate { name, known } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(name, "coding");
    assert_eq!(known.len(), TEMPLATES.len());
    let message = error.to_string();
    assert_has(
        &message,
        &[
            "no template named 'coding'",
            "coding-practice",
            "no-financial",
        ],
    );
}

#[test]
fn template_parameter_errors_name_the_parameter() {
    let error = instantiate("coding-practice", &params(&[]), now()).unwrap_err();
    assert_eq!(
        error,
        TemplateError::MissingParam {
            template: "coding-practice",
            param: "project"
        }
    );
    assert_has(&error.to_string(), &["needs the parameter 'project'"]);

    let error = instantiate("study-notes", &params(&[("course", "cs101")]), now()).unwrap_err();
    assert!(
        matches!(error, TemplateError::MissingChoice { .. }),
        "{error:?}"
    );
    assert_has(&error.to_string(), &["'until', 'weeks'"]);

    let both = params(&[("course", "cs101"), ("until", "2027-03-01"), ("weeks", "3")]);
    let error = instantiate("study-notes", &both, now()).unwrap_err();
    assert!(
        matches!(error, TemplateError::ConflictingParams { .. }),
        "{error:?}"
    );

    let typo = params(&[("untill", "2027-03-01")]);
    let error = instantiate("no-medical", &typo, now()).unwrap_err();
    let TemplateError::UnknownParam { param, known, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(param, "untill");
    assert_eq!(known, &vec!["until"]);

    // (template, params, the parameter the error must name)
    let bad: &[(&str, Pairs, &str)] = &[
        (
            "study-notes",
            &[("course", "cs101"), ("until", "next spring")],
            "until",
        ),
        (
            "study-notes",
            &[("course", "cs101"), ("until", "2026-02-30")],
            "until",
        ),
        (
            "study-notes",
            &[("course", "cs101"), ("until", "2026-06-01")],
            "until",
        ),
        (
            "study-notes",
            &[("course", "cs101"), ("weeks", "0")],
            "weeks",
        ),
        (
            "study-notes",
            &[("course", "cs101"), ("weeks", "105")],
            "weeks",
        ),
        (
            "study-notes",
            &[("course", "cs101"), ("weeks", "many")],
            "weeks",
        ),
        ("study-notes", &[("course", "  ")], "course"),
        (
            "work-strategy",
            &[("project", "apollo"), ("mode", "OPEN")],
            "mode",
        ),
        (
            "work-strategy",
            &[("project", "apollo"), ("mode", "LOCKDOWN")],
            "mode",
        ),
        (
            "work-strategy",
            &[("project", "apollo"), ("mode", "sideways")],
            "mode",
        ),
        ("observe-only", &[("domain", "*")], "domain"),
        ("no-topic", &[("domain", "bad\u{0007}name")], "domain"),
        ("coding-practice", &[("project", "a\u{200B}b")], "project"),
        ("no-financial", &[("until", "2020-01-01")], "until"),
    ];
    for (template, pairs, expected) in bad {
        let error = instantiate(template, &params(pairs), now()).unwrap_err();
        let TemplateError::BadParam { param, value, .. } = &error else {
            panic!("{template} {pairs:?}: {error:?}");
        };
        assert_eq!(param, expected, "{template} {pairs:?}");
        let given = pairs.iter().find(|(k, _)| k == expected).unwrap().1;
        assert_eq!(value, given);
        assert_has(&error.to_string(), &[&format!("parameter '{expected}'")]);
    }
}

// ---------------------------------------------------------------------------------------------
// Sentences
// ---------------------------------------------------------------------------------------------

/// What a sentence must read as. `None` for a field means it must stay unset.
struct Case {
    text: &'static str,
    kind: Option<ContractKind>,
    domains: Option<&'static [&'static str]>,
    contexts: Option<&'static [&'static str]>,
    tools: Option<&'static [&'static str]>,
    retention: Option<RetentionKind>,
    /// The end of a timebound draft, in seconds.
    until: Option<i64>,
    /// Questions that must be asked; when empty, none may be.
    questions: &'static [&'static str],
}

const BASE: Case = Case {
    text: "",
    kind: None,
    domains: None,
    contexts: None,
    tools: None,
    retention: None,
    until: None,
    questions: &[],
};

const EPISODIC: Option<ContractKind> = Some(ContractKind::Episodic);
const PROCEDURAL: Option<ContractKind> = Some(ContractKind::Procedural);
const STRATEGIC: Option<ContractKind> = Some(ContractKind::Strategic);
const OBSERVATION: Option<ContractKind> = Some(ContractKind::Observation);
const PROHIBITED: Option<ContractKind> = Some(ContractKind::Prohibited);
const PERMANENT: Option<RetentionKind> = Some(RetentionKind::Permanent);
const TIMEBOUND: Option<RetentionKind> = Some(RetentionKind::Timebound);
const SESSION: Option<RetentionKind> = Some(RetentionKind::Session);

#[track_caller]
fn check(case: &Case) {
    let draft = draft_from_text(case.text, now());
    let text = case.text;
    assert_eq!(draft.kind, case.kind, "kind of {text:?}: {draft:?}");
    let as_names = |list: Option<&[&str]>| list.map(names);
    assert_eq!(
        draft.patch.domains,
        as_names(case.domains),
        "domains of {text:?}"
    );
    assert_eq!(
        draft.patch.contexts,
        as_names(case.contexts),
        "contexts of {text:?}"
    );
    assert_eq!(draft.patch.tools, as_names(case.tools), "tools of {text:?}");
    assert_eq!(
        draft.patch.retention, case.retention,
        "retention of {text:?}"
    );
    assert_eq!(
        draft.patch.retention_until,
        case.until.map(Timestamp::from_secs),
        "end of {text:?}"
    );
    for question in case.questions {
        assert!(
            draft.questions.iter().any(|q| q == question),
            "{text:?} should ask {question:?}; asked {:?}",
            draft.questions
        );
    }
    if case.questions.is_empty() {
        assert!(
            draft.questions.is_empty(),
            "{text:?} asked {:?}",
            draft.questions
        );
    }
    // Never guessed, never more than the words say.
    assert_ne!(draft.patch.transferable, Some(true), "{text:?}");
    assert_eq!(draft.patch.classification_cap, None);
    assert_eq!(draft.patch.required_mode, None);
    assert_eq!(draft.patch.max_abstraction, None);
    assert_eq!(draft.patch.system, None);
    // A draft with no questions is complete and can be submitted as it stands.
    if draft.questions.is_empty() {
        let kind = draft.kind.expect("no questions means the kind is known");
        let spec = ContractSpec::default().patched(&draft.patch);
        let problems = spec.problems(kind, true, now());
        assert!(problems.is_empty(), "{text:?}: {problems:?}");
    }
}

#[test]
fn sentences_that_can_be_read() {
    let cases = [
        Case {
            text: "Remember my cooking at home forever",
            kind: EPISODIC,
            domains: Some(&["cooking"]),
            contexts: Some(&["home"]),
            retention: PERMANENT,
            ..BASE
        },
        Case {
            text: "Learn coding tips in project alpha using the editor and the debugger for 3 weeks",
            kind: PROCEDURAL,
            domains: Some(&["coding"]),
            contexts: Some(&["alpha"]),
            tools: Some(&["editor", "debugger"]),
            retention: TIMEBOUND,
            until: Some(NOW_SECS + 21 * DAY_SECS),
            ..BASE
        },
        Case {
            text: "Do not learn anything about my finances, permanently.",
            kind: PROHIBITED,
            domains: Some(&["finance"]),
            contexts: Some(&["*"]),
            retention: PERMANENT,
            ..BASE
        },
        Case {
            text: "Don't remember anything about banking until 2027-03-01",
            kind: PROHIBITED,
            domains: Some(&["finance"]),
            contexts: Some(&["*"]),
            retention: TIMEBOUND,
            until: Some(MARCH_2027_SECS),
            ..BASE
        },
        Case {
            text: "Only watch my music in any context for this session",
            kind: OBSERVATION,
            domains: Some(&["music"]),
            contexts: Some(&["*"]),
            retention: SESSION,
            ..BASE
        },
        Case {
            text: "Watch my cooking at home but keep nothing, for this session only",
            kind: OBSERVATION,
            domains: Some(&["cooking"]),
            contexts: Some(&["home"]),
            retention: SESSION,
            ..BASE
        },
        Case {
            text: "Form long-term strategies about coding for project apollo, forever",
            kind: STRATEGIC,
            domains: Some(&["coding"]),
            contexts: Some(&["apollo"]),
            retention: PERMANENT,
            ..BASE
        },
        Case {
            text: "Remember episodes of my travel at work for two months",
            kind: EPISODIC,
            domains: Some(&["travel"]),
            contexts: Some(&["work"]),
            retention: TIMEBOUND,
            until: Some(1_785_585_600), // 2026-08-01 12:00 UTC
            ..BASE
        },
        Case {
            text: "Learn coding and debugging tips in project-alpha with VS Code until 31 December 2026",
            kind: PROCEDURAL,
            domains: Some(&["coding", "debugging"]),
            contexts: Some(&["project-alpha"]),
            tools: Some(&["vscode"]),
            retention: TIMEBOUND,
            until: Some(1_798_675_200), // 2026-12-31 00:00 UTC
            ..BASE
        },
        Case {
            text: "Remember my study sessions for the course cs101 until March 1, 2027",
            kind: EPISODIC,
            domains: Some(&["study"]),
            contexts: Some(&["cs101"]),
            retention: TIMEBOUND,
            until: Some(MARCH_2027_SECS),
            ..BASE
        },
        Case {
            text: "Learn best practices for writing essays at home for a year",
            kind: PROCEDURAL,
            domains: Some(&["writing"]),
            contexts: Some(&["home"]),
            retention: TIMEBOUND,
            until: Some(1_811_851_200), // 2027-06-01 12:00 UTC
            ..BASE
        },
        Case {
            text: "Keep tips about my guitar and piano in my band project for 10 days",
            kind: PROCEDURAL,
            domains: Some(&["music"]),
            contexts: Some(&["band"]),
            retention: TIMEBOUND,
            until: Some(NOW_SECS + 10 * DAY_SECS),
            ..BASE
        },
        Case {
            text: "Remember what happened during my trips, anywhere, until I revoke it",
            kind: EPISODIC,
            domains: Some(&["travel"]),
            contexts: Some(&["*"]),
            retention: PERMANENT,
            ..BASE
        },
        Case {
            text: "Learn Rust tips in the terminal and git at work for the next 6 weeks",
            kind: PROCEDURAL,
            domains: Some(&["coding"]),
            contexts: Some(&["work"]),
            tools: Some(&["terminal", "git"]),
            retention: TIMEBOUND,
            until: Some(NOW_SECS + 42 * DAY_SECS),
            ..BASE
        },
        Case {
            text: "Learn how to cook at home using any tool, for this session",
            kind: PROCEDURAL,
            domains: Some(&["cooking"]),
            contexts: Some(&["home"]),
            tools: Some(&["*"]),
            retention: SESSION,
            ..BASE
        },
        Case {
            text: "Remember my homework at school with no tools for 4 weeks",
            kind: EPISODIC,
            domains: Some(&["study"]),
            contexts: Some(&["school"]),
            tools: Some(&[]),
            retention: TIMEBOUND,
            until: Some(NOW_SECS + 28 * DAY_SECS),
            ..BASE
        },
        Case {
            text: "Remember my cooking but don't generalize, at home, forever",
            kind: EPISODIC,
            domains: Some(&["cooking"]),
            contexts: Some(&["home"]),
            retention: PERMANENT,
            ..BASE
        },
        Case {
            text: "Learn coding tips at work but not at home, permanently",
            kind: PROCEDURAL,
            domains: Some(&["coding"]),
            contexts: Some(&["work"]),
            retention: PERMANENT,
            ..BASE
        },
        Case {
            text: "Learn coding tips at work but not at home for 3 weeks",
            kind: PROCEDURAL,
            domains: Some(&["coding"]),
            contexts: Some(&["work"]),
            retention: TIMEBOUND,
            until: Some(NOW_SECS + 21 * DAY_SECS),
            ..BASE
        },
        Case {
            text: "Learn cooking tips, not finance, at home forever",
            kind: PROCEDURAL,
            domains: Some(&["cooking"]),
            contexts: Some(&["home"]),
            retention: PERMANENT,
            ..BASE
        },
        Case {
            text: "Never watch my banking at work for 3 weeks",
            kind: PROHIBITED,
            domains: Some(&["finance"]),
            contexts: Some(&["work"]),
            retention: TIMEBOUND,
            until: Some(NOW_SECS + 21 * DAY_SECS),
            ..BASE
        },
        Case {
            text: "Prohibit learning about my medical history, forever",
            kind: PROHIBITED,
            domains: Some(&["health"]),
            contexts: Some(&["*"]),
            retention: PERMANENT,
            ..BASE
        },
        Case {
            text: "Learn coding strategies, not tips, in project zeus forever",
            kind: STRATEGIC,
            domains: Some(&["coding"]),
            contexts: Some(&["zeus"]),
            retention: PERMANENT,
            ..BASE
        },
        Case {
            text: "Remember my emails at work in the editor, except the browser, for this session",
            kind: EPISODIC,
            domains: Some(&["email"]),
            contexts: Some(&["work"]),
            tools: Some(&["editor"]),
            retention: SESSION,
            ..BASE
        },
        Case {
            // The spec's own example, read back.
            text: "You allow the assistant to learn and reuse coding best practices from your \
                   Python sessions in personal projects using VS Code. These tips will be stored \
                   permanently and applied automatically in similar future sessions. Nothing will \
                   be shared outside this system.",
            kind: PROCEDURAL,
            domains: Some(&["coding"]),
            contexts: Some(&["personal"]),
            tools: Some(&["vscode"]),
            retention: PERMANENT,
            ..BASE
        },
        Case {
            text: "Watch my gaming for 2 hours at home",
            kind: OBSERVATION,
            domains: Some(&["gaming"]),
            contexts: Some(&["home"]),
            retention: TIMEBOUND,
            until: Some(NOW_SECS + 2 * HOUR_SECS),
            ..BASE
        },
        Case {
            text: "I never want you to learn about my money or my taxes, indefinitely",
            kind: PROHIBITED,
            domains: Some(&["finance"]),
            contexts: Some(&["*"]),
            retention: PERMANENT,
            ..BASE
        },
        Case {
            text: "Learn nothing about my diary, until 2027-03-01",
            kind: PROHIBITED,
            domains: Some(&["journal"]),
            contexts: Some(&["*"]),
            retention: TIMEBOUND,
            until: Some(MARCH_2027_SECS),
            ..BASE
        },
    ];
    for case in &cases {
        check(case);
    }
}

#[test]
fn sentences_it_refuses_to_guess() {
    let cases = [
        Case {
            text: "Learn about decoding",
            questions: &[ASK_KIND, ASK_DOMAIN, ASK_CONTEXT, ASK_RETENTION],
            ..BASE
        },
        Case {
            text: "Remember stuff at home forever",
            kind: EPISODIC,
            contexts: Some(&["home"]),
            retention: PERMANENT,
            questions: &[ASK_DOMAIN],
            ..BASE
        },
        Case {
            text: "Learn about my cooking at home forever",
            domains: Some(&["cooking"]),
            contexts: Some(&["home"]),
            retention: PERMANENT,
            questions: &[ASK_KIND],
            ..BASE
        },
        Case {
            text: "Remember my cooking at home",
            kind: EPISODIC,
            domains: Some(&["cooking"]),
            contexts: Some(&["home"]),
            questions: &[ASK_RETENTION],
            ..BASE
        },
        Case {
            text: "Learn cooking tips forever",
            kind: PROCEDURAL,
            domains: Some(&["cooking"]),
            retention: PERMANENT,
            questions: &[ASK_CONTEXT],
            ..BASE
        },
        Case {
            text: "Learn cooking tips at home until next spring",
            kind: PROCEDURAL,
            domains: Some(&["cooking"]),
            contexts: Some(&["home"]),
            questions: &[ASK_BAD_DATE],
            ..BASE
        },
        Case {
            text: "Learn cooking tips at home until 2027-02-30",
            kind: PROCEDURAL,
            domains: Some(&["cooking"]),
            contexts: Some(&["home"]),
            questions: &[ASK_BAD_DATE],
            ..BASE
        },
        Case {
            text: "Learn cooking tips at home until 2020-01-01",
            kind: PROCEDURAL,
            domains: Some(&["cooking"]),
            contexts: Some(&["home"]),
            questions: &[ASK_PAST_DATE],
            ..BASE
        },
        Case {
            text: "Learn cooking tips at home for 3 weeks, forever",
            kind: PROCEDURAL,
            domains: Some(&["cooking"]),
            contexts: Some(&["home"]),
            questions: &[ASK_RETENTION_CONFLICT],
            ..BASE
        },
        Case {
            text: "Learn cooking tips at home for 5000 years",
            kind: PROCEDURAL,
            domains: Some(&["cooking"]),
            contexts: Some(&["home"]),
            questions: &[ASK_RETENTION],
            ..BASE
        },
        Case {
            text: "Learn cooking tips at home, but not forever",
            kind: PROCEDURAL,
            domains: Some(&["cooking"]),
            contexts: Some(&["home"]),
            questions: &[ASK_RETENTION],
            ..BASE
        },
        Case {
            text: "Learn cooking tips but never learn about my money, forever",
            retention: PERMANENT,
            questions: &[ASK_MIXED],
            ..BASE
        },
        Case {
            text: "Never learn anything about my health.",
            kind: PROHIBITED,
            domains: Some(&["health"]),
            contexts: Some(&["*"]),
            questions: &[ASK_RETENTION],
            ..BASE
        },
        Case {
            text: "Never learn about my health, for this session",
            kind: PROHIBITED,
            domains: Some(&["health"]),
            contexts: Some(&["*"]),
            questions: &[ASK_PROHIBITION_SESSION],
            ..BASE
        },
        Case {
            text: "Remember my cooking and learn strategies for it at home forever",
            domains: Some(&["cooking"]),
            contexts: Some(&["home"]),
            retention: PERMANENT,
            questions: &[ASK_KIND],
            ..BASE
        },
        Case {
            text: "Never learn anything about my meds, forever",
            kind: PROHIBITED,
            contexts: Some(&["*"]),
            retention: PERMANENT,
            questions: &[ASK_DOMAIN],
            ..BASE
        },
        Case {
            text: "Learn coding tips in my current project forever",
            kind: PROCEDURAL,
            domains: Some(&["coding"]),
            retention: PERMANENT,
            questions: &[ASK_CONTEXT],
            ..BASE
        },
        Case {
            text: "Learn coding tips at home using any tool except the browser, forever",
            kind: PROCEDURAL,
            domains: Some(&["coding"]),
            contexts: Some(&["home"]),
            retention: PERMANENT,
            questions: &[ASK_TOOLS],
            ..BASE
        },
        Case {
            text: "Learn coding tips at home in any context, forever",
            kind: PROCEDURAL,
            domains: Some(&["coding"]),
            retention: PERMANENT,
            questions: &[ASK_CONTEXT],
            ..BASE
        },
        Case {
            text: "Learn tips for good coding habits at home",
            kind: PROCEDURAL,
            domains: Some(&["coding"]),
            contexts: Some(&["home"]),
            questions: &[ASK_RETENTION],
            ..BASE
        },
        Case {
            // The negation covers the rest of the clause, so nothing in it is read as allowed.
            text: "Do not learn strategies about my cooking at home, forever",
            retention: PERMANENT,
            questions: &[ASK_KIND, ASK_DOMAIN, ASK_CONTEXT],
            ..BASE
        },
        Case {
            text: "",
            questions: &[ASK_KIND, ASK_DOMAIN, ASK_CONTEXT, ASK_RETENTION],
            ..BASE
        },
    ];
    assert!(cases.len() >= 10);
    for case in &cases {
        check(case);
    }
}

#[test]
fn matching_is_by_whole_words() {
    let cases = [
        Case {
            text: "Remember my decoding and encoding work at home forever",
            kind: EPISODIC,
            contexts: Some(&["home"]),
            retention: PERMANENT,
            questions: &[ASK_DOMAIN],
            ..BASE
        },
        Case {
            text: "Learn codebase tips in project alpha forever",
            kind: PROCEDURAL,
            contexts: Some(&["alpha"]),
            retention: PERMANENT,
            questions: &[ASK_DOMAIN],
            ..BASE
        },
        Case {
            text: "Remember my travelogues and embankment photos at home forever",
            kind: EPISODIC,
            contexts: Some(&["home"]),
            retention: PERMANENT,
            questions: &[ASK_DOMAIN],
            ..BASE
        },
        Case {
            text: "Remember my medication schedule at home forever",
            kind: EPISODIC,
            domains: Some(&["health"]),
            contexts: Some(&["home"]),
            retention: PERMANENT,
            ..BASE
        },
        Case {
            text: "REMEMBER my Cooking at HOME, Forever!",
            kind: EPISODIC,
            domains: Some(&["cooking"]),
            contexts: Some(&["home"]),
            retention: PERMANENT,
            ..BASE
        },
        Case {
            text: "Remember my coding/debugging sessions at home forever",
            kind: EPISODIC,
            domains: Some(&["coding", "debugging"]),
            contexts: Some(&["home"]),
            retention: PERMANENT,
            ..BASE
        },
        Case {
            text: "Learn coding tips in vscodex and the editors at home forever",
            kind: PROCEDURAL,
            domains: Some(&["coding"]),
            contexts: Some(&["home"]),
            retention: PERMANENT,
            ..BASE
        },
        Case {
            text: "Rememberance of my cooking at homework forever",
            domains: Some(&["cooking", "study"]),
            retention: PERMANENT,
            questions: &[ASK_KIND, ASK_CONTEXT],
            ..BASE
        },
        Case {
            text: "Learn tips about my strategically important cooking at home forever",
            kind: PROCEDURAL,
            domains: Some(&["cooking"]),
            contexts: Some(&["home"]),
            retention: PERMANENT,
            ..BASE
        },
        Case {
            text: "Learn coding tips at home forevermore",
            kind: PROCEDURAL,
            domains: Some(&["coding"]),
            contexts: Some(&["home"]),
            questions: &[ASK_RETENTION],
            ..BASE
        },
    ];
    for case in &cases {
        check(case);
    }
}

#[test]
fn sharing_is_asked_about_never_turned_on() {
    let draft = draft_from_text(
        "Learn cooking tips at home forever and share them with my friends",
        now(),
    );
    assert_eq!(draft.kind, PROCEDURAL);
    assert_eq!(draft.patch.transferable, None);
    assert_eq!(draft.questions, vec![ASK_SHARING.to_string()]);

    for text in [
        "Learn cooking tips at home forever, never share them",
        "Learn cooking tips at home forever. Nothing will be shared.",
        "Learn cooking tips at home forever and do not export anything",
    ] {
        let draft = draft_from_text(text, now());
        assert!(draft.questions.is_empty(), "{text}: {:?}", draft.questions);
        assert_eq!(draft.patch.transferable, None);
    }
}

#[test]
fn owner_presence_and_description_are_read() {
    let draft = draft_from_text(
        "Remember my journal at home forever, only while I'm present",
        now(),
    );
    assert_eq!(draft.kind, EPISODIC);
    assert_eq!(draft.patch.recall_requires_owner, Some(true));
    assert!(draft.questions.is_empty(), "{:?}", draft.questions);
    assert_eq!(
        draft.patch.description.as_deref(),
        Some("Remember my journal at home forever, only while I'm present")
    );
    let read = ContractSpec::default().patched(&draft.patch);
    assert_has(
        &summarize(ContractKind::Episodic, &read, now()),
        &[
            "only while you are present",
            "about journal in the home context",
        ],
    );

    // Prohibitions keep nothing to recall, so presence is not set for them.
    let draft = draft_from_text(
        "Never learn about my health forever, only when I am here",
        now(),
    );
    assert_eq!(draft.kind, PROHIBITED);
    assert_eq!(draft.patch.recall_requires_owner, None);

    // Control characters never reach the description; long texts are cut to the limit.
    let draft = draft_from_text("Remember\u{0007} cooking", now());
    assert_eq!(
        draft.patch.description.as_deref(),
        Some("Remember  cooking")
    );
    let long = "cooking ".repeat(400);
    let draft = draft_from_text(&long, now());
    let description = draft.patch.description.unwrap();
    assert!(description.len() <= 2048);
    assert!(
        ContractSpec {
            description,
            ..spec(ContractKind::Episodic)
        }
        .problems(ContractKind::Episodic, true, now())
        .is_empty()
    );
}

#[test]
fn a_complete_draft_reads_back_as_its_summary() {
    let draft = draft_from_text(
        "Learn coding tips in project alpha using the editor and the debugger until 2027-03-01",
        now(),
    );
    let kind = draft.kind.unwrap();
    let spec = ContractSpec::default().patched(&draft.patch);
    assert_eq!(
        summarize(kind, &spec, now()),
        "You allow the assistant to learn and reuse tips about coding in the alpha context using \
         the editor and the debugger. It may generalize as far as reusable rules of thumb \
         (heuristics), never to longer-term strategies. This contract lasts until 1 March 2027, \
         00:00 UTC. When it ends, what was learned is frozen: kept, but never used again. It may \
         handle information up to secret (level 3 of 5), never anything more sensitive. Nothing \
         will leave this machine. You can revoke this at any time."
    );
}

#[test]
fn reading_is_deterministic() {
    let text = "Learn Rust tips in the terminal and git at work for the next 6 weeks";
    assert_eq!(draft_from_text(text, now()), draft_from_text(text, now()));
    let patch = draft_from_text(text, now()).patch;
    assert_ne!(patch, SpecPatch::default());
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// Words the reader reacts to, and some it must not, to build sentences from.
const SENTENCE_WORDS: &[&str] = &[
    "remember",
    "learn",
    "watch",
    "tips",
    "strategies",
    "never",
    "not",
    "don't",
    "no",
    "nothing",
    "keep",
    "forever",
    "until",
    "2027-03-01",
    "2020-01-01",
    "march",
    "1",
    "for",
    "3",
    "weeks",
    "the",
    "next",
    "this",
    "session",
    "only",
    "in",
    "project",
    "alpha",
    "at",
    "work",
    "home",
    "any",
    "tool",
    "tools",
    "context",
    "editor",
    "vs",
    "code",
    "coding",
    "decoding",
    "health",
    "money",
    "cooking",
    "but",
    "except",
    "share",
    "while",
    "i'm",
    "present",
    "generalize",
    ",",
    ".",
    "!",
    "—",
    "'",
    "\u{0007}",
    "é",
];

proptest::proptest! {
    #![proptest_config(crate::common::proptest_config(512))]

    /// Whatever is typed: no panic, sharing never turned on, and a draft without questions
    /// can be submitted as it stands; its summary then says nothing leaves the machine.
    #[test]
    fn any_sentence_reads_safely(
        picks in proptest::collection::vec(0..SENTENCE_WORDS.len(), 0..24),
        noise in ".{0,40}",
    ) {
        let mut text: Vec<&str> = picks.iter().map(|&i| SENTENCE_WORDS[i]).collect();
        text.push(&noise);
        let text = text.join(" ");
        let draft = draft_from_text(&text, now());
        proptest::prop_assert_ne!(draft.patch.transferable, Some(true));
        let spec = ContractSpec::default().patched(&draft.patch);
        if draft.questions.is_empty() {
            let kind = draft.kind.expect("no questions means the kind is known");
            proptest::prop_assert!(spec.problems(kind, true, now()).is_empty(), "{text:?}");
            let summary = summarize(kind, &spec, now());
            proptest::prop_assert!(summary.contains("Nothing will leave this machine."));
        }
        for kind in ContractKind::ALL {
            let summary = summarize(*kind, &spec, now());
            proptest::prop_assert!(summary.ends_with('.'));
        }
    }

    /// Any instant formats without panicking, and any valid day reads back to its start.
    #[test]
    fn dates_round_trip(millis in proptest::num::i64::ANY, days in -1_000_000i64..1_000_000) {
        let _ = format_utc(Timestamp::from_millis(millis));
        let start = Timestamp::from_millis(days * DAY_SECS * 1000);
        let shown = format_utc(start);
        proptest::prop_assert!(shown.ends_with(", 00:00 UTC"), "{shown}");
        if (0..2_932_897).contains(&days) {
            // Years 1970 to 9999: the ISO form reads back to the same instant.
            let text = iso_date(&shown);
            proptest::prop_assert_eq!(parse_iso_date(&text), Some(start), "{}", text);
        }
    }
}

/// "1 March 2027, 00:00 UTC" → "2027-03-01", to check the reader against the formatter.
fn iso_date(shown: &str) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let date = shown.split(',').next().unwrap();
    let parts: Vec<&str> = date.split(' ').collect();
    let month = MONTHS.iter().position(|m| *m == parts[1]).unwrap() + 1;
    format!("{:0>4}-{month:02}-{:0>2}", parts[2], parts[0])
}

/// Found by the requests fuzz target: template errors echoed a caller's parameter name or
/// value whole, so a long one made the reply (and the log line) as long as the request.
#[test]
fn template_errors_echo_caller_text_cut_short() {
    let long = "q".repeat(3000);
    let unknown = instantiate("coding-practice", &params(&[(&long, "x")]), now()).unwrap_err();
    let bad = instantiate("coding-practice", &params(&[("project", &long)]), now()).unwrap_err();
    let no_such = instantiate(&long, &params(&[]), now()).unwrap_err();
    for error in [unknown, bad, no_such] {
        let shown = error.to_string();
        assert!(shown.len() < 400, "{} bytes: {shown:.120}", shown.len());
        assert!(shown.contains("qqqq…"), "{shown:.200}");
    }
}
