//! Ready-made contracts for common wishes. Each template fills every field a person would
//! otherwise have to choose, with the cautious choice (nothing leaves the machine, a lowered
//! classification cap, no tools unless named), and takes a few parameters for the rest.
//! Every template, instantiated with valid parameters, passes
//! [`ContractSpec::problems`](crate::contract::ContractSpec::problems) for submission.

use super::{DAY_MS, parse_iso_date};
use crate::contract::{Abstraction, ContractKind, RetentionKind, SpecPatch};
use crate::mode::{BoundaryMode, MemoryClass};
use crate::scope::Name;
use crate::time::Timestamp;
use std::collections::BTreeMap;

/// One parameter a template takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    /// The key the caller passes.
    pub name: &'static str,
    /// What it means, for a person.
    pub description: &'static str,
    /// Whether it must be given.
    pub required: bool,
    /// The value used when it is not given, if any.
    pub default: Option<&'static str>,
}

/// A ready-made contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Template {
    /// The key used to instantiate it.
    pub name: &'static str,
    /// A short title for a list.
    pub title: &'static str,
    /// What it allows or forbids, in plain words.
    pub description: &'static str,
    /// The contract kind it creates.
    pub kind: ContractKind,
    /// The parameters it takes.
    pub params: &'static [Param],
}

/// Why a template could not be instantiated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// No template has that name.
    #[error("there is no template named '{name}'; the templates are: {}", .known.join(", "))]
    UnknownTemplate {
        /// The name asked for (cut short when long).
        name: String,
        /// Every template name.
        known: Vec<&'static str>,
    },
    /// A required parameter was not given.
    #[error("template '{template}' needs the parameter '{param}'")]
    MissingParam {
        /// The template.
        template: &'static str,
        /// The missing parameter.
        param: &'static str,
    },
    /// Exactly one of several parameters must be given, and none was.
    #[error("template '{template}' needs one of the parameters {}", quoted(.params))]
    MissingChoice {
        /// The template.
        template: &'static str,
        /// The alternatives.
        params: Vec<&'static str>,
    },
    /// Parameters that exclude each other were both given.
    #[error("template '{template}' takes only one of the parameters {}, not several", quoted(.params))]
    ConflictingParams {
        /// The template.
        template: &'static str,
        /// The parameters given together.
        params: Vec<&'static str>,
    },
    /// A parameter the template does not take.
    #[error("template '{template}' has no parameter '{param}'; it takes {}", quoted(.known))]
    UnknownParam {
        /// The template.
        template: &'static str,
        /// The unexpected parameter (cut short when long).
        param: String,
        /// The parameters it takes.
        known: Vec<&'static str>,
    },
    /// A parameter's value is not acceptable.
    #[error("template '{template}': parameter '{param}' cannot be '{value}': {reason}")]
    BadParam {
        /// The template.
        template: &'static str,
        /// The parameter at fault.
        param: &'static str,
        /// The value given (cut short when long).
        value: String,
        /// What is wrong and what to give instead.
        reason: String,
    },
}

/// Caller text echoed in an error (a template name, a parameter's name or value) is cut to
/// this many bytes, so no caller can make the reply or the log line as long as what it sent.
const ECHO_MAX_BYTES: usize = 64;

fn echoed(text: &str) -> String {
    if text.len() <= ECHO_MAX_BYTES {
        return text.to_string();
    }
    let mut end = ECHO_MAX_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn quoted(names: &[&'static str]) -> String {
    names
        .iter()
        .map(|name| format!("'{name}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

const UNTIL: Param = Param {
    name: "until",
    description: "the day it ends, as YYYY-MM-DD (it ends at 00:00 UTC that day); without it, it is permanent",
    required: false,
    default: None,
};

const CONTEXT_ANY: Param = Param {
    name: "context",
    description: "where it applies, for example a project name, or * for any context",
    required: false,
    default: Some("*"),
};

/// Every template, in the order they are offered.
pub const TEMPLATES: &[Template] = &[
    Template {
        name: "coding-practice",
        title: "Coding practice from a project",
        description: "Learn reusable coding tips from your work in one project. Nothing leaves this machine.",
        kind: ContractKind::Procedural,
        params: &[
            Param {
                name: "project",
                description: "the project it learns from",
                required: true,
                default: None,
            },
            Param {
                name: "language",
                description: "a programming language, added as a second subject next to coding",
                required: false,
                default: None,
            },
            Param {
                name: "tool",
                description: "the one tool it learns through, for example vscode; without it, nothing is learned through tools",
                required: false,
                default: None,
            },
        ],
    },
    Template {
        name: "personal-journal",
        title: "Personal journal",
        description: "Remember your journal entries as they are, without generalizing. They never leave this machine and are recalled only while you are present.",
        kind: ContractKind::Episodic,
        params: &[Param {
            name: "context",
            description: "where the journal is kept",
            required: false,
            default: Some("personal"),
        }],
    },
    Template {
        name: "study-notes",
        title: "Study notes for a course",
        description: "Remember your study sessions for one course, for the length of a term.",
        kind: ContractKind::Episodic,
        params: &[
            Param {
                name: "course",
                description: "the course, for example cs101",
                required: true,
                default: None,
            },
            Param {
                name: "until",
                description: "the day it ends, as YYYY-MM-DD (00:00 UTC); give this or weeks",
                required: false,
                default: None,
            },
            Param {
                name: "weeks",
                description: "how many weeks from now it lasts (1 to 104); give this or until",
                required: false,
                default: None,
            },
        ],
    },
    Template {
        name: "work-strategy",
        title: "Strategy learning for a work project",
        description: "Form longer-term strategies for one work project, only while this computer is in TRUSTED mode or a more isolated one.",
        kind: ContractKind::Strategic,
        params: &[
            Param {
                name: "project",
                description: "the work project",
                required: true,
                default: None,
            },
            Param {
                name: "mode",
                description: "the least isolated mode it may learn in: TRUSTED, AIRGAP or COLDROOM",
                required: false,
                default: Some("TRUSTED"),
            },
        ],
    },
    Template {
        name: "observe-only",
        title: "Observation only",
        description: "Let the assistant watch one subject, keeping nothing and learning nothing.",
        kind: ContractKind::Observation,
        params: &[
            Param {
                name: "domain",
                description: "the subject it may watch, for example cooking",
                required: true,
                default: None,
            },
            CONTEXT_ANY,
        ],
    },
    Template {
        name: "session-only",
        title: "Remember this session only",
        description: "Remember episodes about one subject for a single session; they are frozen when it ends.",
        kind: ContractKind::Episodic,
        params: &[
            Param {
                name: "domain",
                description: "the subject, for example travel",
                required: true,
                default: None,
            },
            CONTEXT_ANY,
        ],
    },
    Template {
        name: "no-medical",
        title: "Never learn about medical matters",
        description: "Forbid all learning about health and medical matters, everywhere. It overrides every other contract and cannot be revoked.",
        kind: ContractKind::Prohibited,
        params: &[UNTIL],
    },
    Template {
        name: "no-financial",
        title: "Never learn about financial matters",
        description: "Forbid all learning about finance, banking and money, everywhere. It overrides every other contract and cannot be revoked.",
        kind: ContractKind::Prohibited,
        params: &[UNTIL],
    },
    Template {
        name: "no-topic",
        title: "Never learn about a subject",
        description: "Forbid all learning about one subject you name. It overrides every other contract and cannot be revoked.",
        kind: ContractKind::Prohibited,
        params: &[
            Param {
                name: "domain",
                description: "the subject to forbid",
                required: true,
                default: None,
            },
            CONTEXT_ANY,
            UNTIL,
        ],
    },
];

/// The template named `name`.
pub fn find(name: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|template| template.name == name)
}

/// Builds the kind and the spec of a new draft from the template `name` and its `params`,
/// judged at `now` (end dates must lie in the future). Unknown parameters are refused rather
/// than ignored, so a misspelt `until` cannot silently make a contract permanent.
pub fn instantiate(
    name: &str,
    params: &BTreeMap<String, String>,
    now: Timestamp,
) -> Result<(ContractKind, SpecPatch), TemplateError> {
    let template = find(name).ok_or_else(|| TemplateError::UnknownTemplate {
        name: echoed(name),
        known: TEMPLATES.iter().map(|t| t.name).collect(),
    })?;
    let args = Args::check(template, params)?;
    let patch = match template.name {
        "coding-practice" => {
            let mut domains = vec![fixed("coding")];
            if let Some(language) = args.optional_name("language")?
                && language.as_str() != "coding"
            {
                domains.push(language);
            }
            let project = args.name("project")?;
            SpecPatch {
                description: Some(format!("Coding practice from project {project}.")),
                domains: Some(domains),
                contexts: Some(vec![project]),
                tools: Some(args.optional_name("tool")?.into_iter().collect()),
                retention: Some(RetentionKind::Permanent),
                classification_cap: Some(MemoryClass::Confidential),
                max_abstraction: Some(Abstraction::Heuristic),
                ..cautious()
            }
        }
        "personal-journal" => SpecPatch {
            description: Some("Personal journal.".to_string()),
            domains: Some(vec![fixed("journal")]),
            contexts: Some(vec![args.name("context")?]),
            tools: Some(Vec::new()),
            retention: Some(RetentionKind::Permanent),
            // Journal entries are personal: kept out of OPEN mode (whose cap is INTERNAL).
            classification_cap: Some(MemoryClass::Confidential),
            max_abstraction: Some(Abstraction::Raw),
            recall_requires_owner: Some(true),
            ..cautious()
        },
        "study-notes" => {
            let course = args.name("course")?;
            SpecPatch {
                description: Some(format!("Study notes for the course {course}.")),
                domains: Some(vec![fixed("study")]),
                contexts: Some(vec![course]),
                tools: Some(Vec::new()),
                retention: Some(RetentionKind::Timebound),
                retention_until: Some(args.term_end(now)?),
                classification_cap: Some(MemoryClass::Internal),
                max_abstraction: Some(Abstraction::Raw),
                ..cautious()
            }
        }
        "work-strategy" => {
            let project = args.name("project")?;
            SpecPatch {
                description: Some(format!("Strategy learning for the work project {project}.")),
                domains: Some(vec![fixed("work")]),
                contexts: Some(vec![project]),
                tools: Some(Vec::new()),
                retention: Some(RetentionKind::Permanent),
                classification_cap: Some(MemoryClass::Secret),
                required_mode: Some(args.strategic_mode()?),
                max_abstraction: Some(Abstraction::Strategy),
                ..cautious()
            }
        }
        "observe-only" => SpecPatch {
            description: Some("Observation only.".to_string()),
            domains: Some(vec![args.domain()?]),
            contexts: Some(vec![args.name("context")?]),
            tools: Some(Vec::new()),
            retention: Some(RetentionKind::Permanent),
            ..cautious()
        },
        "session-only" => SpecPatch {
            description: Some("Remember this session only.".to_string()),
            domains: Some(vec![args.domain()?]),
            contexts: Some(vec![args.name("context")?]),
            tools: Some(Vec::new()),
            retention: Some(RetentionKind::Session),
            classification_cap: Some(MemoryClass::Internal),
            max_abstraction: Some(Abstraction::Raw),
            ..cautious()
        },
        // Several names for the same subject, since agents may label it either way and a
        // broader prohibition is the safe side.
        "no-medical" => prohibition(
            "Never learn about medical matters.",
            &["health", "medical"],
            fixed("*"),
            &args,
            now,
        )?,
        "no-financial" => prohibition(
            "Never learn about financial matters.",
            &["finance", "banking", "money"],
            fixed("*"),
            &args,
            now,
        )?,
        "no-topic" => {
            let domain = args.domain()?;
            let mut patch = prohibition(
                "Never learn about this subject.",
                &[],
                args.name("context")?,
                &args,
                now,
            )?;
            patch.description = Some(format!("Never learn about {domain}."));
            patch.domains = Some(vec![domain]);
            patch
        }
        other => unreachable!("template '{other}' is listed but not built"),
    };
    Ok((template.kind, patch))
}

/// The fields every template sets the same way: nothing leaves the machine, not a system
/// contract. Templates override the rest.
fn cautious() -> SpecPatch {
    SpecPatch {
        transferable: Some(false),
        recall_requires_owner: Some(false),
        system: Some(false),
        ..SpecPatch::default()
    }
}

fn prohibition(
    description: &str,
    domains: &[&str],
    context: Name,
    args: &Args<'_>,
    now: Timestamp,
) -> Result<SpecPatch, TemplateError> {
    let until = args.optional_until(now)?;
    Ok(SpecPatch {
        description: Some(description.to_string()),
        domains: Some(domains.iter().map(|domain| fixed(domain)).collect()),
        contexts: Some(vec![context]),
        tools: Some(Vec::new()),
        retention: Some(if until.is_some() {
            RetentionKind::Timebound
        } else {
            RetentionKind::Permanent
        }),
        retention_until: until,
        // Prohibitions keep nothing, so these must stay off.
        transferable: Some(false),
        recall_requires_owner: Some(false),
        ..SpecPatch::default()
    })
}

/// A name written in this file, known to be valid.
fn fixed(raw: &str) -> Name {
    Name::parse(raw).expect("template names are valid")
}

/// A template's parameters, checked against what it takes.
struct Args<'a> {
    template: &'static Template,
    given: &'a BTreeMap<String, String>,
}

impl<'a> Args<'a> {
    fn check(
        template: &'static Template,
        given: &'a BTreeMap<String, String>,
    ) -> Result<Self, TemplateError> {
        if let Some(unknown) = given
            .keys()
            .find(|key| !template.params.iter().any(|p| p.name == key.as_str()))
        {
            return Err(TemplateError::UnknownParam {
                template: template.name,
                param: echoed(unknown),
                known: template.params.iter().map(|p| p.name).collect(),
            });
        }
        if let Some(missing) = template
            .params
            .iter()
            .find(|p| p.required && !given.contains_key(p.name))
        {
            return Err(TemplateError::MissingParam {
                template: template.name,
                param: missing.name,
            });
        }
        Ok(Self { template, given })
    }

    /// The value given, else the default.
    fn raw(&self, param: &'static str) -> Option<&str> {
        self.given.get(param).map(String::as_str).or_else(|| {
            self.template
                .params
                .iter()
                .find(|p| p.name == param)
                .and_then(|p| p.default)
        })
    }

    fn bad(&self, param: &'static str, value: &str, reason: impl Into<String>) -> TemplateError {
        TemplateError::BadParam {
            template: self.template.name,
            param,
            value: echoed(value),
            reason: reason.into(),
        }
    }

    fn optional_name(&self, param: &'static str) -> Result<Option<Name>, TemplateError> {
        self.raw(param)
            .map(|value| {
                Name::parse(value)
                    .map_err(|error| self.bad(param, value, format!("the name {error}")))
            })
            .transpose()
    }

    fn name(&self, param: &'static str) -> Result<Name, TemplateError> {
        self.optional_name(param)?
            .ok_or(TemplateError::MissingParam {
                template: self.template.name,
                param,
            })
    }

    /// A domain: a name, but never the wildcard (SEMANTICS.md section 3).
    fn domain(&self) -> Result<Name, TemplateError> {
        let domain = self.name("domain")?;
        if domain.is_any() {
            return Err(self.bad(
                "domain",
                "*",
                "a domain must be named explicitly, never '*'",
            ));
        }
        Ok(domain)
    }

    fn until(&self, value: &str, now: Timestamp) -> Result<Timestamp, TemplateError> {
        let until = parse_iso_date(value.trim()).ok_or_else(|| {
            self.bad(
                "until",
                value,
                "give a date as YYYY-MM-DD, for example 2027-03-01",
            )
        })?;
        if until <= now {
            return Err(self.bad(
                "until",
                value,
                "that day has already begun; choose a later day",
            ));
        }
        Ok(until)
    }

    fn optional_until(&self, now: Timestamp) -> Result<Option<Timestamp>, TemplateError> {
        self.raw("until")
            .map(|value| self.until(value, now))
            .transpose()
    }

    /// The end of a term: `until` or `weeks` from `now`, exactly one of them.
    fn term_end(&self, now: Timestamp) -> Result<Timestamp, TemplateError> {
        match (self.raw("until"), self.raw("weeks")) {
            (Some(_), Some(_)) => Err(TemplateError::ConflictingParams {
                template: self.template.name,
                params: vec!["until", "weeks"],
            }),
            (None, None) => Err(TemplateError::MissingChoice {
                template: self.template.name,
                params: vec!["until", "weeks"],
            }),
            (Some(until), None) => self.until(until, now),
            (None, Some(weeks)) => match weeks.trim().parse::<i64>() {
                Ok(count @ 1..=104) => Ok(now.plus_millis(count * 7 * DAY_MS)),
                _ => Err(self.bad("weeks", weeks, "give a whole number of weeks from 1 to 104")),
            },
        }
    }

    /// TRUSTED or a more isolated mode in which anything may run (not LOCKDOWN).
    fn strategic_mode(&self) -> Result<BoundaryMode, TemplateError> {
        let value = self.raw("mode").unwrap_or("TRUSTED");
        match BoundaryMode::parse(value) {
            Some(
                mode @ (BoundaryMode::Trusted | BoundaryMode::Airgap | BoundaryMode::Coldroom),
            ) => Ok(mode),
            _ => Err(self.bad(
                "mode",
                value,
                "strategies may only be learned in TRUSTED, AIRGAP or COLDROOM",
            )),
        }
    }
}
