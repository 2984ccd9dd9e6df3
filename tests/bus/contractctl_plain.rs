//! Plain language through the real `contractctl` binary and a real daemon: sentences read by
//! `new --from-text` (including the ones it must refuse to guess about, and whole-word
//! matching), the summary of every template and every kind, and the summary shown before an
//! activation.

use crate::common::bus::*;
use crate::common::cli::*;
use learning_contracts::core::plain::text::{
    ASK_BAD_DATE, ASK_CONTEXT, ASK_DOMAIN, ASK_KIND, ASK_MIXED, ASK_PAST_DATE,
    ASK_PROHIBITION_SESSION, ASK_RETENTION, ASK_RETENTION_CONFLICT, ASK_SHARING, ASK_TOOLS,
};

const DAY: i64 = 86_400;

/// When a timebound draft must end.
#[derive(Clone, Copy)]
enum Until {
    /// Not timebound.
    No,
    /// This many seconds after the sentence was read (within the run's few seconds).
    After(i64),
    /// 00:00 UTC of this day, in seconds.
    At(i64),
    /// Some time in the future (calendar months, whose length depends on today).
    Later,
}

/// What a sentence must read as. An empty `kind` means no draft may be made.
struct Sentence {
    text: &'static str,
    kind: &'static str,
    domains: &'static [&'static str],
    contexts: &'static [&'static str],
    tools: &'static [&'static str],
    retention: &'static str,
    until: Until,
    /// Questions that must be asked; when empty, none may be, and the draft must submit.
    questions: &'static [&'static str],
}

const BASE: Sentence = Sentence {
    text: "",
    kind: "",
    domains: &[],
    contexts: &[],
    tools: &[],
    retention: "",
    until: Until::No,
    questions: &[],
};

/// 2027-03-01 00:00 UTC.
const MARCH_2027: i64 = 1_803_859_200;
/// 2026-12-31 00:00 UTC.
const LAST_DAY_2026: i64 = 1_798_675_200;

const SENTENCES: &[Sentence] = &[
    // Read in full: each makes a draft that can be submitted as it stands.
    Sentence {
        text: "Remember my cooking at home forever",
        kind: "episodic",
        domains: &["cooking"],
        contexts: &["home"],
        retention: "permanent",
        ..BASE
    },
    Sentence {
        text: "Learn coding tips in project alpha using the editor and the debugger for 3 weeks",
        kind: "procedural",
        domains: &["coding"],
        contexts: &["alpha"],
        tools: &["editor", "debugger"],
        retention: "timebound",
        until: Until::After(21 * DAY),
        ..BASE
    },
    Sentence {
        text: "Do not learn anything about my finances, permanently.",
        kind: "prohibited",
        domains: &["finance"],
        contexts: &["*"],
        retention: "permanent",
        ..BASE
    },
    Sentence {
        text: "Don't remember anything about banking until 2027-03-01",
        kind: "prohibited",
        domains: &["finance"],
        contexts: &["*"],
        retention: "timebound",
        until: Until::At(MARCH_2027),
        ..BASE
    },
    Sentence {
        text: "Only watch my music in any context for this session",
        kind: "observation",
        domains: &["music"],
        contexts: &["*"],
        retention: "session",
        ..BASE
    },
    Sentence {
        text: "Watch my cooking at home but keep nothing, for this session only",
        kind: "observation",
        domains: &["cooking"],
        contexts: &["home"],
        retention: "session",
        ..BASE
    },
    Sentence {
        text: "Form long-term strategies about coding for project apollo, forever",
        kind: "strategic",
        domains: &["coding"],
        contexts: &["apollo"],
        retention: "permanent",
        ..BASE
    },
    Sentence {
        text: "Remember episodes of my travel at work for two months",
        kind: "episodic",
        domains: &["travel"],
        contexts: &["work"],
        retention: "timebound",
        until: Until::Later,
        ..BASE
    },
    Sentence {
        text: "Learn coding and debugging tips in project-alpha with VS Code until 31 December 2026",
        kind: "procedural",
        domains: &["coding", "debugging"],
        contexts: &["project-alpha"],
        tools: &["vscode"],
        retention: "timebound",
        until: Until::At(LAST_DAY_2026),
        ..BASE
    },
    Sentence {
        text: "Remember my study sessions for the course cs101 until March 1, 2027",
        kind: "episodic",
        domains: &["study"],
        contexts: &["cs101"],
        retention: "timebound",
        until: Until::At(MARCH_2027),
        ..BASE
    },
    Sentence {
        text: "Keep tips about my guitar and piano in my band project for 10 days",
        kind: "procedural",
        domains: &["music"],
        contexts: &["band"],
        retention: "timebound",
        until: Until::After(10 * DAY),
        ..BASE
    },
    Sentence {
        text: "Remember what happened during my trips, anywhere, until I revoke it",
        kind: "episodic",
        domains: &["travel"],
        contexts: &["*"],
        retention: "permanent",
        ..BASE
    },
    Sentence {
        text: "Learn Rust tips in the terminal and git at work for the next 6 weeks",
        kind: "procedural",
        domains: &["coding"],
        contexts: &["work"],
        tools: &["terminal", "git"],
        retention: "timebound",
        until: Until::After(42 * DAY),
        ..BASE
    },
    Sentence {
        text: "Learn how to cook at home using any tool, for this session",
        kind: "procedural",
        domains: &["cooking"],
        contexts: &["home"],
        tools: &["*"],
        retention: "session",
        ..BASE
    },
    Sentence {
        text: "Remember my homework at school with no tools for 4 weeks",
        kind: "episodic",
        domains: &["study"],
        contexts: &["school"],
        retention: "timebound",
        until: Until::After(28 * DAY),
        ..BASE
    },
    Sentence {
        text: "Learn coding tips at work but not at home, permanently",
        kind: "procedural",
        domains: &["coding"],
        contexts: &["work"],
        retention: "permanent",
        ..BASE
    },
    Sentence {
        text: "Learn cooking tips, not finance, at home forever",
        kind: "procedural",
        domains: &["cooking"],
        contexts: &["home"],
        retention: "permanent",
        ..BASE
    },
    Sentence {
        text: "Never watch my banking at work for 3 weeks",
        kind: "prohibited",
        domains: &["finance"],
        contexts: &["work"],
        retention: "timebound",
        until: Until::After(21 * DAY),
        ..BASE
    },
    Sentence {
        text: "Prohibit learning about my medical history, forever",
        kind: "prohibited",
        domains: &["health"],
        contexts: &["*"],
        retention: "permanent",
        ..BASE
    },
    Sentence {
        text: "Learn coding strategies, not tips, in project zeus forever",
        kind: "strategic",
        domains: &["coding"],
        contexts: &["zeus"],
        retention: "permanent",
        ..BASE
    },
    Sentence {
        text: "Remember my emails at work in the editor, except the browser, for this session",
        kind: "episodic",
        domains: &["email"],
        contexts: &["work"],
        tools: &["editor"],
        retention: "session",
        ..BASE
    },
    Sentence {
        text: "Watch my gaming for 2 hours at home",
        kind: "observation",
        domains: &["gaming"],
        contexts: &["home"],
        retention: "timebound",
        until: Until::After(2 * 3_600),
        ..BASE
    },
    Sentence {
        text: "I never want you to learn about my money or my taxes, indefinitely",
        kind: "prohibited",
        domains: &["finance"],
        contexts: &["*"],
        retention: "permanent",
        ..BASE
    },
    Sentence {
        text: "Learn nothing about my diary, until 2027-03-01",
        kind: "prohibited",
        domains: &["journal"],
        contexts: &["*"],
        retention: "timebound",
        until: Until::At(MARCH_2027),
        ..BASE
    },
    // Refusals to guess: each asks, and what it could read is kept.
    Sentence {
        text: "Learn about decoding",
        questions: &[ASK_KIND, ASK_DOMAIN, ASK_CONTEXT, ASK_RETENTION],
        ..BASE
    },
    Sentence {
        text: "Remember stuff at home forever",
        kind: "episodic",
        contexts: &["home"],
        retention: "permanent",
        questions: &[ASK_DOMAIN],
        ..BASE
    },
    Sentence {
        text: "Learn about my cooking at home forever",
        questions: &[ASK_KIND],
        ..BASE
    },
    Sentence {
        text: "Remember my cooking at home",
        kind: "episodic",
        domains: &["cooking"],
        contexts: &["home"],
        questions: &[ASK_RETENTION],
        ..BASE
    },
    Sentence {
        text: "Learn cooking tips forever",
        kind: "procedural",
        domains: &["cooking"],
        retention: "permanent",
        questions: &[ASK_CONTEXT],
        ..BASE
    },
    Sentence {
        text: "Learn cooking tips at home until next spring",
        kind: "procedural",
        domains: &["cooking"],
        contexts: &["home"],
        questions: &[ASK_BAD_DATE],
        ..BASE
    },
    Sentence {
        text: "Learn cooking tips at home until 2027-02-30",
        kind: "procedural",
        domains: &["cooking"],
        contexts: &["home"],
        questions: &[ASK_BAD_DATE],
        ..BASE
    },
    Sentence {
        text: "Learn cooking tips at home until 2020-01-01",
        kind: "procedural",
        domains: &["cooking"],
        contexts: &["home"],
        questions: &[ASK_PAST_DATE],
        ..BASE
    },
    Sentence {
        text: "Learn cooking tips at home for 3 weeks, forever",
        kind: "procedural",
        domains: &["cooking"],
        contexts: &["home"],
        questions: &[ASK_RETENTION_CONFLICT],
        ..BASE
    },
    Sentence {
        text: "Learn cooking tips at home for 5000 years",
        kind: "procedural",
        domains: &["cooking"],
        contexts: &["home"],
        questions: &[ASK_RETENTION],
        ..BASE
    },
    Sentence {
        text: "Learn cooking tips but never learn about my money, forever",
        questions: &[ASK_MIXED],
        ..BASE
    },
    Sentence {
        text: "Never learn anything about my health.",
        kind: "prohibited",
        domains: &["health"],
        contexts: &["*"],
        questions: &[ASK_RETENTION],
        ..BASE
    },
    Sentence {
        text: "Never learn about my health, for this session",
        kind: "prohibited",
        domains: &["health"],
        contexts: &["*"],
        questions: &[ASK_PROHIBITION_SESSION],
        ..BASE
    },
    Sentence {
        text: "Remember my cooking and learn strategies for it at home forever",
        questions: &[ASK_KIND],
        ..BASE
    },
    Sentence {
        text: "Learn coding tips at home using any tool except the browser, forever",
        kind: "procedural",
        domains: &["coding"],
        contexts: &["home"],
        retention: "permanent",
        questions: &[ASK_TOOLS],
        ..BASE
    },
    Sentence {
        text: "Learn coding tips at home in any context, forever",
        kind: "procedural",
        domains: &["coding"],
        retention: "permanent",
        questions: &[ASK_CONTEXT],
        ..BASE
    },
    Sentence {
        text: "Remember my coding at work forever and share it with my team",
        kind: "episodic",
        domains: &["coding"],
        contexts: &["work"],
        retention: "permanent",
        questions: &[ASK_SHARING],
        ..BASE
    },
    // Whole words, never substrings: "decoding" is not coding, "homework" is not home.
    Sentence {
        text: "Remember my decoding and encoding work at home forever",
        kind: "episodic",
        contexts: &["home"],
        retention: "permanent",
        questions: &[ASK_DOMAIN],
        ..BASE
    },
    Sentence {
        text: "Remember my cookbook collection at home forever",
        kind: "episodic",
        contexts: &["home"],
        retention: "permanent",
        questions: &[ASK_DOMAIN],
        ..BASE
    },
    Sentence {
        text: "Remember my musical at home forever",
        kind: "episodic",
        contexts: &["home"],
        retention: "permanent",
        questions: &[ASK_DOMAIN],
        ..BASE
    },
];

fn strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn sentences_are_read_by_contractctl_new_from_text() {
    if !require_root("sentences_are_read_by_contractctl_new_from_text") {
        return;
    }
    assert!(SENTENCES.len() >= 40, "at least 40 sentences");
    let bus = TestBus::start();
    let _daemon = DaemonProcess::start(&bus, &static_config("AIRGAP", ""));
    let owner = users().owner;
    let mut refusals = 0;
    for sentence in SENTENCES {
        let text = sentence.text;
        let before = now_secs();
        let read = json(
            contractctl(&bus, owner, &["--json", "new", "--from-text", text]),
            text,
        );
        let after = now_secs();
        let questions = strings(&read["questions"]);
        for question in sentence.questions {
            assert!(
                questions.iter().any(|q| q == question),
                "{text:?} should ask {question:?}; asked {questions:?}"
            );
        }
        if sentence.questions.is_empty() {
            assert!(questions.is_empty(), "{text:?} asked {questions:?}");
        } else {
            refusals += 1;
        }
        let id = read["id"].as_str().unwrap();
        if sentence.kind.is_empty() {
            assert_eq!(id, "", "{text:?} made a draft without knowing its kind");
            assert!(
                read["summary"]
                    .as_str()
                    .unwrap()
                    .contains("No draft was made"),
                "{text:?}: {read}"
            );
            continue;
        }
        assert_ne!(id, "", "{text:?} made no draft: {read}");
        let draft = json(contractctl(&bus, owner, &["--json", "show", id]), text);
        assert_eq!(draft["kind"], sentence.kind, "kind of {text:?}");
        assert_eq!(draft["state"], "draft");
        assert_eq!(
            strings(&draft["domains"]),
            sentence.domains,
            "domains of {text:?}"
        );
        assert_eq!(
            strings(&draft["contexts"]),
            sentence.contexts,
            "contexts of {text:?}"
        );
        assert_eq!(
            strings(&draft["tools"]),
            sentence.tools,
            "tools of {text:?}"
        );
        assert_eq!(
            draft["retention"], sentence.retention,
            "retention of {text:?}"
        );
        let until = draft["retention_until"].as_i64().unwrap();
        match sentence.until {
            Until::No => assert_eq!(until, 0, "end of {text:?}"),
            Until::At(at) => assert_eq!(until, at, "end of {text:?}"),
            Until::After(span) => assert!(
                (before + span..=after + span).contains(&until),
                "end of {text:?}: {until} not {span} s after {before}..{after}"
            ),
            Until::Later => assert!(until > after, "end of {text:?}"),
        }
        // Nothing is guessed beyond the words.
        assert_eq!(draft["transferable"], false, "{text:?}");
        assert_eq!(draft["system"], false, "{text:?}");
        // The summary the sentence produced is the one the draft shows.
        assert_eq!(draft["summary"], read["summary"], "{text:?}");
        if sentence.questions.is_empty() {
            ok(contractctl(&bus, owner, &["submit", id]), text);
        } else if sentence.domains.is_empty()
            || sentence.contexts.is_empty()
            || sentence.retention.is_empty()
        {
            // What a question left open is not filled in, so the draft cannot go to review.
            // (Questions about tools or sharing leave the safe default: none, and no.)
            let refused = contractctl(&bus, owner, &["submit", id]);
            assert_eq!(refused.code, 5, "{text:?} submitted while incomplete");
        }
    }
    assert!(
        refusals >= 15,
        "at least 15 sentences it must refuse to guess"
    );

    // The human output lists the questions after the summary.
    let asked = ok(
        contractctl(
            &bus,
            owner,
            &["new", "--from-text", "Remember my cooking at home"],
        ),
        "new --from-text",
    );
    assert!(
        asked.contains("Draft ") && asked.contains(&format!("? {ASK_RETENTION}")),
        "{asked}"
    );
}

/// The phrases every summary of an allowing contract that stays on the machine has.
const STAYS_HERE: &[&str] = &[
    "Nothing will leave this machine.",
    "You can revoke this at any time.",
];

#[track_caller]
fn assert_has(text: &str, phrases: &[&str]) {
    for phrase in phrases {
        assert!(text.contains(phrase), "missing {phrase:?} in:\n{text}");
    }
}

#[test]
fn summaries_of_every_template_and_kind_through_contractctl() {
    if !require_root("summaries_of_every_template_and_kind_through_contractctl") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = DaemonProcess::start(&bus, &static_config("AIRGAP", ""));
    let owner = users().owner;

    let listed = json(
        contractctl(&bus, owner, &["--json", "templates"]),
        "templates",
    );
    let names: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    let human = ok(contractctl(&bus, owner, &["templates"]), "templates");
    for name in &names {
        assert!(
            human.contains(name.as_str()),
            "templates lacks {name}:\n{human}"
        );
    }
    assert!(
        human.contains("--param project=…") && human.contains("(required)"),
        "{human}"
    );

    let templates: &[(&str, &[&str], &[&str])] = &[
        (
            "coding-practice",
            &["project=alpha"],
            &[
                "learn and reuse tips about coding in the alpha context",
                "never to longer-term strategies",
            ],
        ),
        (
            "personal-journal",
            &[],
            &[
                "remember specific episodes",
                "may not generalize",
                "only while you are present",
            ],
        ),
        (
            "study-notes",
            &["course=cs101", "until=2027-03-01"],
            &[
                "about study in the cs101 context",
                "until 1 March 2027, 00:00 UTC",
                "what was learned is frozen",
            ],
        ),
        (
            "work-strategy",
            &["project=apollo"],
            &[
                "form longer-term strategies",
                "in the apollo context",
                "in TRUSTED mode",
            ],
        ),
        (
            "observe-only",
            &["domain=music"],
            &[
                "watch your activity about music",
                "keeps nothing and learns nothing",
            ],
        ),
        (
            "session-only",
            &["domain=cooking"],
            &["about cooking", "only for the session it is bound to"],
        ),
        (
            "no-medical",
            &[],
            &[
                "may never learn anything about health and medical",
                "overrides every other contract",
                "It cannot be revoked",
            ],
        ),
        (
            "no-financial",
            &[],
            &[
                "may never learn anything about finance, banking and money",
                "overrides every other contract",
            ],
        ),
        (
            "no-topic",
            &["domain=gaming"],
            &[
                "may never learn anything about gaming",
                "overrides every other contract",
            ],
        ),
    ];
    assert_eq!(
        templates
            .iter()
            .map(|t| t.0.to_string())
            .collect::<Vec<_>>(),
        names,
        "every template is tested, in the daemon's order"
    );
    assert!(names.len() >= 7);
    for (name, params, phrases) in templates {
        let mut args = vec!["--json", "new", "--template", name];
        for param in *params {
            args.extend(["--param", param]);
        }
        let made = json(contractctl(&bus, owner, &args), name);
        let summary = made["summary"].as_str().unwrap();
        assert_has(summary, phrases);
        if name.starts_with("no-") {
            assert_has(summary, &["Nothing will leave this machine."]);
        } else {
            assert_has(summary, STAYS_HERE);
        }
        // `show` leads with the same summary.
        let id = made["id"].as_str().unwrap();
        let shown = ok(contractctl(&bus, owner, &["show", id]), name);
        assert!(
            shown.starts_with(summary),
            "show of {name} does not lead with its summary:\n{shown}"
        );
    }

    let kinds: &[(&str, &[&str], &[&str])] = &[
        (
            "observation",
            &[],
            &[
                "watch your activity about coding in the work context",
                "keeps nothing and learns nothing",
            ],
        ),
        (
            "episodic",
            &[],
            &[
                "remember specific episodes about coding in the work context",
                "may not generalize",
            ],
        ),
        (
            "procedural",
            &["--tool", "editor"],
            &[
                "learn and reuse tips about coding in the work context",
                "using the editor",
            ],
        ),
        (
            "strategic",
            &["--required-mode", "AIRGAP"],
            &["form longer-term strategies about coding", "AIRGAP"],
        ),
        (
            "prohibited",
            &[],
            &[
                "may never learn anything about coding in the work context",
                "This prohibition is permanent.",
            ],
        ),
    ];
    for (kind, extra, phrases) in kinds {
        let mut args = vec![
            "--json",
            "new",
            kind,
            "--domain",
            "coding",
            "--context",
            "work",
            "--retention",
            "permanent",
        ];
        args.extend(extra.iter());
        let made = json(contractctl(&bus, owner, &args), kind);
        let summary = made["summary"].as_str().unwrap();
        assert_has(summary, phrases);
        if *kind != "prohibited" {
            assert_has(summary, STAYS_HERE);
            assert_has(summary, &["This contract lasts until you revoke it."]);
        }
    }

    // Retention and scope forms: a date, a session, any context, any tool, and sharing on.
    let made = json(
        contractctl(
            &bus,
            owner,
            &[
                "--json",
                "new",
                "procedural",
                "--domain",
                "cooking",
                "--context",
                "*",
                "--tool",
                "*",
                "--until",
                "2027-03-01",
                "--transferable",
            ],
        ),
        "timebound, anywhere, shared",
    );
    let summary = made["summary"].as_str().unwrap();
    assert_has(
        summary,
        &[
            "until 1 March 2027, 00:00 UTC",
            "in any context",
            "any tool",
        ],
    );
    assert!(
        !summary.contains("Nothing will leave this machine."),
        "{summary}"
    );

    // Activation shows the summary before asking; the answer on a pipe is --yes.
    let id = made["id"].as_str().unwrap();
    ok(contractctl(&bus, owner, &["submit", id]), "submit");
    let activated = ok(
        contractctl(&bus, owner, &["activate", id, "--yes"]),
        "activate",
    );
    assert!(
        activated.starts_with(summary),
        "activate did not show the summary first:\n{activated}"
    );
}
