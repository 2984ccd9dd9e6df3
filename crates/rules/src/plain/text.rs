//! A deterministic reading of one typed sentence into a contract draft (spec section 6.2,
//! without an LLM). It fills what the words say and asks a question for everything else:
//! it never guesses a subject, a context, a kind or a duration, and never turns on sharing.
//!
//! How a sentence is read:
//! - It is lower-cased and cut into whole words ("decoding" is never "coding"); contractions
//!   are opened ("don't" → "do not"). Punctuation and the words *but*, *except*, *unless*,
//!   *however*, *though*, *although* and *besides* split it into clauses.
//! - A negation (*not*, *never*, *no*, *without*, *nothing*, *none*, *nor*) covers the rest
//!   of its clause, unless it is aimed at generalizing, tools or sharing ("don't generalize",
//!   "no tools", "never share"). Subjects, places and tools that are negated ("but not at
//!   home") or in an exception clause ("except finance") are left out, which is how an
//!   unlisted name is treated anyway: denied. In a prohibition the negated part is the
//!   subject ("never learn about health"), so there only exceptions are left out. A duration
//!   is set aside (and asked about) only when a negation stands right before it ("not
//!   forever").
//! - A negated learning verb ("never learn", "do not remember", "learn nothing") or *forbid* /
//!   *prohibit* makes a prohibition; with "watch" and nothing else it makes an observation
//!   contract ("watch my cooking but keep nothing"). A sentence that both allows and forbids
//!   is not split: the reader asks.
//! - Subjects come only from [`DOMAIN_WORDS`], tools only from [`TOOL_PHRASES`], places only
//!   from the patterns described at [`draft_from_text`].

use super::{DAY_MS, add_months, date_to_timestamp, parse_iso_date};
use crate::contract::{ContractKind, DESCRIPTION_MAX_BYTES, RetentionKind, SpecPatch};
use crate::scope::{ANY, Name};
use crate::time::Timestamp;

/// A draft read from a sentence: the kind if it was clear, the fields it could tell, and a
/// question for each thing it could not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextDraft {
    /// The contract kind, when the words made it clear.
    pub kind: Option<ContractKind>,
    /// The fields the words stated; everything else stays unset.
    pub patch: SpecPatch,
    /// What to ask the person before the draft can be completed, in the order to ask.
    pub questions: Vec<String>,
}

/// Asked when no subject from the vocabulary is named.
pub const ASK_DOMAIN: &str = "What subject is this about? For example coding, cooking, finance, health, music, travel, writing or study.";
/// Asked when no place is named.
pub const ASK_CONTEXT: &str = "Where does it apply: in a particular project (say \"in project <name>\"), at work, at home, or in any context?";
/// Asked when no duration is stated.
pub const ASK_RETENTION: &str = "How long should it last: only for this session, until a date (for example \"until 2027-03-01\" or \"for 3 weeks\"), or until you revoke it?";
/// Asked when the kind of learning is unclear.
pub const ASK_KIND: &str = "Should the assistant only watch, remember specific episodes, learn reusable tips, or form longer-term strategies?";
/// Asked when the sentence both allows and forbids learning.
pub const ASK_MIXED: &str = "This sentence both allows and forbids learning. Please describe each in its own sentence, so each becomes its own contract.";
/// Asked when the date after "until" cannot be read.
pub const ASK_BAD_DATE: &str = "I could not read the date after \"until\". Please write it as YYYY-MM-DD, for example 2027-03-01.";
/// Asked when the date given has already begun.
pub const ASK_PAST_DATE: &str = "That date has already passed. Until when should it last?";
/// Asked when several different durations are stated.
pub const ASK_RETENTION_CONFLICT: &str = "You gave more than one duration. Which one should it be?";
/// Asked when a prohibition is meant to last for a session, which prohibitions cannot.
pub const ASK_PROHIBITION_SESSION: &str =
    "A prohibition cannot last only for a session. Should it be permanent, or end on a date?";
/// Asked when the tools are stated in a way that cannot be written down.
pub const ASK_TOOLS: &str =
    "Which tools may it learn through? Name them, or say \"any tool\" or \"no tools\".";
/// Asked when the sentence mentions sharing: the reader never turns sharing on.
pub const ASK_SHARING: &str = "You mentioned sharing. What is learned stays on this machine unless you turn sharing on yourself. Should it be allowed to leave this machine?";

/// Subject words and the domain each stands for. Only these make domains.
pub const DOMAIN_WORDS: &[(&str, &str)] = &[
    ("coding", "coding"),
    ("code", "coding"),
    ("programming", "coding"),
    ("software", "coding"),
    ("python", "coding"),
    ("rust", "coding"),
    ("javascript", "coding"),
    ("typescript", "coding"),
    ("debugging", "debugging"),
    ("cooking", "cooking"),
    ("cook", "cooking"),
    ("recipe", "cooking"),
    ("recipes", "cooking"),
    ("baking", "cooking"),
    ("finance", "finance"),
    ("finances", "finance"),
    ("financial", "finance"),
    ("money", "finance"),
    ("banking", "finance"),
    ("bank", "finance"),
    ("budget", "finance"),
    ("budgeting", "finance"),
    ("investing", "finance"),
    ("taxes", "finance"),
    ("health", "health"),
    ("medical", "health"),
    ("medicine", "health"),
    ("medication", "health"),
    ("medications", "health"),
    ("doctor", "health"),
    ("symptoms", "health"),
    ("music", "music"),
    ("guitar", "music"),
    ("piano", "music"),
    ("songs", "music"),
    ("travel", "travel"),
    ("traveling", "travel"),
    ("travelling", "travel"),
    ("trip", "travel"),
    ("trips", "travel"),
    ("writing", "writing"),
    ("essay", "writing"),
    ("essays", "writing"),
    ("study", "study"),
    ("studying", "study"),
    ("course", "study"),
    ("courses", "study"),
    ("homework", "study"),
    ("exams", "study"),
    ("lectures", "study"),
    ("gaming", "gaming"),
    ("games", "gaming"),
    ("email", "email"),
    ("emails", "email"),
    ("journal", "journal"),
    ("diary", "journal"),
];

/// Tool phrases (as whole words) and the tool each names; longer phrases are tried first.
pub const TOOL_PHRASES: &[(&[&str], &str)] = &[
    (&["visual", "studio", "code"], "vscode"),
    (&["vs", "code"], "vscode"),
    (&["vscode"], "vscode"),
    (&["web", "browser"], "browser"),
    (&["browser"], "browser"),
    (&["editor"], "editor"),
    (&["terminal"], "terminal"),
    (&["shell"], "shell"),
    (&["debugger"], "debugger"),
    (&["git"], "git"),
    (&["vim"], "vim"),
    (&["emacs"], "emacs"),
    (&["jupyter"], "jupyter"),
    (&["ide"], "ide"),
];

/// Phrases meaning any tool.
const ANY_TOOL: &[&[&str]] = &[
    &["any", "tool"],
    &["any", "tools"],
    &["all", "tools"],
    &["every", "tool"],
    &["whatever", "tool"],
];

/// Phrases meaning no tool-mediated learning.
const NO_TOOLS: &[&[&str]] = &[
    &["no", "tool"],
    &["no", "tools"],
    &["without", "tools"],
    &["without", "any", "tool"],
    &["without", "any", "tools"],
    &["without", "a", "tool"],
];

/// Phrases meaning any context.
const ANY_CONTEXT: &[&[&str]] = &[
    &["any", "context"],
    &["every", "context"],
    &["all", "contexts"],
    &["anywhere"],
    &["everywhere"],
];

/// "at <place>" phrases and the context each names.
const AT_PLACES: &[(&str, &str)] = &[("work", "work"), ("home", "home"), ("school", "school")];

/// Words that introduce a place: "in project alpha", "for my cs101 course".
const PLACE_PREPOSITIONS: &[&str] = &["in", "for", "on", "from", "within", "during"];
/// Words that name what kind of place follows or precedes.
const PLACE_KEYWORDS: &[&str] = &[
    "project",
    "projects",
    "course",
    "class",
    "repository",
    "repo",
];
/// Words skipped between a preposition and a place.
const DETERMINERS: &[&str] = &["the", "my", "our", "your", "a", "an", "his", "her", "their"];
/// Words that can never be a place's name ("in my current project" names no project).
const NOT_A_NAME: &[&str] = &[
    "the",
    "my",
    "our",
    "your",
    "a",
    "an",
    "this",
    "that",
    "these",
    "those",
    "any",
    "every",
    "all",
    "some",
    "current",
    "new",
    "next",
    "other",
    "each",
    "same",
    "it",
    "its",
    "one",
    "and",
    "or",
    "of",
    "to",
    "in",
    "on",
    "for",
    "at",
    "with",
    "from",
    "using",
    "about",
    "me",
    "i",
    "we",
    "you",
    "his",
    "her",
    "their",
    "project",
    "projects",
    "course",
    "class",
    "repository",
    "repo",
    "not",
    "never",
    "no",
];

/// Negation words.
const NEGATIONS: &[&str] = &["not", "never", "no", "without", "nothing", "none", "nor"];
/// Words that start a clause of their own.
const CLAUSE_STARTS: &[&str] = &[
    "but", "except", "unless", "however", "though", "although", "besides",
];
/// Clause starts that make an exception ("except at home").
const EXCEPTION_STARTS: &[&str] = &["except", "unless", "besides"];
/// Verbs of learning and watching: negated, they forbid.
const LEARNING_VERBS: &[&str] = &[
    "learn",
    "learns",
    "learning",
    "remember",
    "remembering",
    "store",
    "storing",
    "keep",
    "keeping",
    "record",
    "recording",
    "save",
    "saving",
    "memorize",
    "retain",
    "track",
    "tracking",
    "collect",
    "collecting",
    "watch",
    "watching",
    "observe",
    "observing",
];
/// Words that forbid by themselves.
const FORBID_WORDS: &[&str] = &["forbid", "forbidden", "prohibit", "prohibited", "ban"];
/// Forms of "generalize": a negation aimed at them asks for episodes, it does not forbid.
const GENERALIZE_WORDS: &[&str] = &[
    "generalize",
    "generalise",
    "generalizing",
    "generalising",
    "generalization",
    "generalisation",
];
/// Words about sharing.
const SHARE_WORDS: &[&str] = &[
    "share",
    "shared",
    "sharing",
    "export",
    "exported",
    "exporting",
    "upload",
    "uploaded",
    "uploading",
    "sync",
    "syncing",
];

/// Phrases that say which kind of learning is meant.
const KIND_PHRASES: &[(&[&str], ContractKind)] = &[
    (&["watch"], ContractKind::Observation),
    (&["watches"], ContractKind::Observation),
    (&["watching"], ContractKind::Observation),
    (&["observe"], ContractKind::Observation),
    (&["observes"], ContractKind::Observation),
    (&["observing"], ContractKind::Observation),
    (&["observation"], ContractKind::Observation),
    (&["remember"], ContractKind::Episodic),
    (&["remembers"], ContractKind::Episodic),
    (&["remembering"], ContractKind::Episodic),
    (&["episode"], ContractKind::Episodic),
    (&["episodes"], ContractKind::Episodic),
    (&["record"], ContractKind::Episodic),
    (&["what", "happened"], ContractKind::Episodic),
    (&["tip"], ContractKind::Procedural),
    (&["tips"], ContractKind::Procedural),
    (&["best", "practice"], ContractKind::Procedural),
    (&["practices"], ContractKind::Procedural),
    (&["rules", "of", "thumb"], ContractKind::Procedural),
    (&["heuristic"], ContractKind::Procedural),
    (&["heuristics"], ContractKind::Procedural),
    (&["technique"], ContractKind::Procedural),
    (&["techniques"], ContractKind::Procedural),
    (&["tricks"], ContractKind::Procedural),
    (&["shortcuts"], ContractKind::Procedural),
    (&["reuse"], ContractKind::Procedural),
    (&["reusable"], ContractKind::Procedural),
    (&["how", "to"], ContractKind::Procedural),
    (&["strategy"], ContractKind::Strategic),
    (&["strategies"], ContractKind::Strategic),
    (&["strategic"], ContractKind::Strategic),
    (&["long-term"], ContractKind::Strategic),
    (&["longer-term"], ContractKind::Strategic),
    (&["long", "term"], ContractKind::Strategic),
    (&["longer", "term"], ContractKind::Strategic),
];

/// Small numbers written as words, for durations ("for three weeks").
const NUMBER_WORDS: &[(&str, i64)] = &[
    ("a", 1),
    ("an", 1),
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("ten", 10),
    ("eleven", 11),
    ("twelve", 12),
];

/// Month names as written in dates ("1 March 2027", "March 1, 2027").
const MONTH_WORDS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// The longest duration accepted in any unit; more is read as unclear, not as a huge number.
const MAX_COUNT: i64 = 1000;

/// Reads `text` into a draft, judged at `now` ("for 3 weeks" counts from `now`; a date that
/// has begun is refused).
///
/// What is read:
/// - kind: see the module documentation; unclear or conflicting signals ask [`ASK_KIND`],
///   allowing and forbidding in one sentence asks [`ASK_MIXED`] and leaves the scope unset.
/// - domains: [`DOMAIN_WORDS`]; none found asks [`ASK_DOMAIN`].
/// - contexts: "at work", "at home", "at school"; "in/for/on/from project X", "in the X
///   project" (also with course, class, repository, repo); "in any context", "anywhere",
///   "everywhere" → `*`. None found asks [`ASK_CONTEXT`], except for a prohibition, which then
///   applies in any context (the broader reading is the safe one for a prohibition).
/// - tools: [`TOOL_PHRASES`], "any tool" → `*`, "no tools" → none; not mentioned stays unset
///   (no tool-mediated learning).
/// - retention: "forever", "permanently", "indefinitely", "for good", "until I revoke it" →
///   permanent; "for this session", "this session only" → session; "until 2027-03-01",
///   "until 1 March 2027", "until March 1, 2027" → timebound, ending at 00:00 UTC that day;
///   "for 3 weeks", "for the next two months" (hours, days, weeks, months, years) → timebound
///   from `now`. Nothing found asks [`ASK_RETENTION`].
/// - "only while I am present" → recall only while the owner is present.
/// - The whole text (trimmed, control characters replaced) becomes the description.
///
/// Transferability is never set: sharing is asked about ([`ASK_SHARING`]), never assumed.
pub fn draft_from_text(text: &str, now: Timestamp) -> TextDraft {
    let reader = Reader::new(text);
    let mut used = vec![false; reader.words.len()];
    let mut questions = Vec::new();

    let retention_findings = reader.retention(now, &mut used);
    let tools = reader.tools(&mut used);
    let contexts = reader.contexts(&mut used);
    let domains = reader.domains(&used);
    let kind_reading = reader.kind();

    let kind = match kind_reading {
        KindReading::Clear(kind) => Some(kind),
        KindReading::Unclear => {
            questions.push(ASK_KIND.to_string());
            None
        }
        KindReading::Mixed => {
            questions.push(ASK_MIXED.to_string());
            None
        }
    };
    let prohibited = kind == Some(ContractKind::Prohibited);
    let mut patch = SpecPatch::default();

    if kind_reading != KindReading::Mixed {
        // A prohibition's subject is usually the negated part ("never learn about health"),
        // so only exceptions are left out; elsewhere negated mentions are left out too.
        let counts = |mention: &Mention| !mention.excepted && (prohibited || !mention.negated);
        let domain_names = unique(domains.iter().filter(|m| counts(m)));
        if domain_names.is_empty() {
            questions.push(ASK_DOMAIN.to_string());
        } else {
            patch.domains = Some(domain_names);
        }

        let context_names = unique(contexts.iter().filter(|m| counts(m)));
        let any_and_named = context_names.len() > 1 && context_names.iter().any(Name::is_any);
        if any_and_named || (context_names.is_empty() && !prohibited) {
            questions.push(ASK_CONTEXT.to_string());
        } else if context_names.is_empty() {
            patch.contexts = Some(vec![name(ANY)]);
        } else {
            patch.contexts = Some(context_names);
        }

        // Prohibitions take no tools: they apply whatever the tool.
        if !prohibited {
            match read_tools(&tools) {
                ToolReading::Unstated => {}
                ToolReading::List(list) => patch.tools = Some(list),
                ToolReading::Unclear => questions.push(ASK_TOOLS.to_string()),
            }
        }
    }

    match resolve_retention(&retention_findings) {
        Ok(None) => questions.push(ASK_RETENTION.to_string()),
        Ok(Some(Retention::Session)) if prohibited => {
            questions.push(ASK_PROHIBITION_SESSION.to_string())
        }
        Ok(Some(Retention::Session)) => patch.retention = Some(RetentionKind::Session),
        Ok(Some(Retention::Permanent)) => patch.retention = Some(RetentionKind::Permanent),
        Ok(Some(Retention::Until(until))) if until <= now => {
            questions.push(ASK_PAST_DATE.to_string())
        }
        Ok(Some(Retention::Until(until))) => {
            patch.retention = Some(RetentionKind::Timebound);
            patch.retention_until = Some(until);
        }
        Err(question) => questions.push(question.to_string()),
    }

    let keeps_memories = kind.is_none_or(ContractKind::may_store);
    if keeps_memories && reader.owner_presence() {
        patch.recall_requires_owner = Some(true);
    }
    if reader.mentions_sharing() {
        questions.push(ASK_SHARING.to_string());
    }
    patch.description = description(text);

    TextDraft {
        kind,
        patch,
        questions,
    }
}

/// The sentence split into words, with where each clause starts and what it negates.
struct Reader {
    words: Vec<String>,
    /// The clause each word belongs to.
    clause: Vec<usize>,
    /// A negation earlier in the same clause covers the word.
    negated: Vec<bool>,
    /// The word's clause is an exception ("except at home").
    excepted: Vec<bool>,
}

/// A name found in the text, with how it was said.
struct Mention {
    name: Name,
    negated: bool,
    excepted: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KindReading {
    Clear(ContractKind),
    Unclear,
    Mixed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Retention {
    Permanent,
    Session,
    Until(Timestamp),
}

/// One statement of duration, or a reason it could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RetentionFinding {
    Stated(Retention),
    /// "until" followed by something that is not a date.
    Unreadable,
    /// A duration stated under a negation ("not forever") or out of range.
    Unclear,
}

/// How tools were mentioned: by name (`*` for "any tool"), and whether "no tools" was said.
#[derive(Default)]
struct ToolMentions {
    named: Vec<Mention>,
    no_tools: bool,
}

enum ToolReading {
    Unstated,
    List(Vec<Name>),
    Unclear,
}

impl Reader {
    fn new(text: &str) -> Self {
        let tokens = tokenize(text);
        let mut words = Vec::new();
        let mut clause = Vec::new();
        let mut current = 0;
        let mut clause_has_words = false;
        for token in tokens {
            match token {
                None => {
                    if clause_has_words {
                        current += 1;
                        clause_has_words = false;
                    }
                }
                Some(word) => {
                    if CLAUSE_STARTS.contains(&word.as_str()) && clause_has_words {
                        current += 1;
                    }
                    words.push(word);
                    clause.push(current);
                    clause_has_words = true;
                }
            }
        }
        let mut reader = Self {
            negated: vec![false; words.len()],
            excepted: vec![false; words.len()],
            words,
            clause,
        };
        reader.mark_negations_and_exceptions();
        reader
    }

    fn mark_negations_and_exceptions(&mut self) {
        let mut clause_first = 0;
        let mut negating = false;
        for i in 0..self.words.len() {
            if i == 0 || self.clause[i] != self.clause[i - 1] {
                clause_first = i;
                negating = false;
            }
            self.negated[i] = negating;
            self.excepted[i] = EXCEPTION_STARTS.contains(&self.words[clause_first].as_str());
            if self.is_general_negation(i) {
                negating = true;
            }
        }
    }

    /// A negation that covers the rest of its clause: not one aimed at generalizing, tools
    /// or sharing within the next three words.
    fn is_general_negation(&self, i: usize) -> bool {
        if !NEGATIONS.contains(&self.words[i].as_str()) {
            return false;
        }
        let aimed = (i + 1..=i + 3).any(|j| {
            self.same_clause(i, j)
                && (GENERALIZE_WORDS.contains(&self.words[j].as_str())
                    || SHARE_WORDS.contains(&self.words[j].as_str())
                    || matches!(self.words[j].as_str(), "tool" | "tools"))
        });
        !aimed
    }

    fn same_clause(&self, i: usize, j: usize) -> bool {
        j < self.words.len() && self.clause[i] == self.clause[j]
    }

    fn word(&self, i: usize) -> Option<&str> {
        self.words.get(i).map(String::as_str)
    }

    /// Whether `phrase` starts at `i`, all within one clause.
    fn phrase_at(&self, i: usize, phrase: &[&str]) -> bool {
        phrase
            .iter()
            .enumerate()
            .all(|(k, expected)| self.same_clause(i, i + k) && self.words[i + k] == *expected)
    }

    fn mention(&self, i: usize, name: Name) -> Mention {
        Mention {
            name,
            negated: self.negated[i],
            excepted: self.excepted[i],
        }
    }

    /// Every statement of duration.
    fn retention(&self, now: Timestamp, used: &mut [bool]) -> Vec<RetentionFinding> {
        let mut findings = Vec::new();
        let mut i = 0;
        while i < self.words.len() {
            let word = self.words[i].as_str();
            // A duration right after a negation ("not forever", "never for a week") says what
            // it is not; ask instead.
            let stated = |retention| {
                if (i.saturating_sub(2)..i)
                    .any(|j| self.same_clause(j, i) && self.is_general_negation(j))
                {
                    RetentionFinding::Unclear
                } else {
                    RetentionFinding::Stated(retention)
                }
            };
            let mut advance = 1;
            if matches!(word, "forever" | "permanently" | "permanent" | "indefinitely")
                // "for good" only at the end of a clause: "for good coding habits" is not a duration.
                || (self.phrase_at(i, &["for", "good"]) && !self.same_clause(i, i + 2))
            {
                findings.push(stated(Retention::Permanent));
            } else if self.phrase_at(i, &["until", "i", "revoke"])
                || self.phrase_at(i, &["until", "revoked"])
            {
                findings.push(stated(Retention::Permanent));
                advance = 2;
            } else if word == "until" {
                match self.date_after(i) {
                    Some((until, len)) => {
                        findings.push(stated(Retention::Until(until)));
                        used[i + 1..=i + len].fill(true);
                        advance = len + 1;
                    }
                    None => findings.push(RetentionFinding::Unreadable),
                }
            } else if word == "session" && self.is_this_session(i) {
                findings.push(stated(Retention::Session));
                used[i] = true;
            } else if let Some((end, len)) = self.duration_at(i, now) {
                findings.push(end.map_or(RetentionFinding::Unclear, |until| {
                    stated(Retention::Until(until))
                }));
                used[i..i + len].fill(true);
                advance = len;
            }
            i += advance;
        }
        findings
    }

    /// "for this session", "during the session", "for just this session", "this session only".
    fn is_this_session(&self, i: usize) -> bool {
        if i == 0 || !self.same_clause(i - 1, i) {
            return false;
        }
        let before = self.words[i - 1].as_str();
        if !matches!(before, "this" | "the" | "current") {
            return false;
        }
        let introduced = i >= 2
            && self.same_clause(i - 2, i)
            && matches!(
                self.words[i - 2].as_str(),
                "for" | "during" | "only" | "just"
            );
        let followed = self.same_clause(i, i + 1) && self.words[i + 1] == "only";
        introduced || followed
    }

    /// A date right after "until" at `i`: its instant and how many words it took.
    fn date_after(&self, i: usize) -> Option<(Timestamp, usize)> {
        let first = self.word(i + 1)?;
        if let Some(at) = parse_iso_date(first) {
            return Some((at, 1));
        }
        // Read across clause breaks: the comma in "March 1, 2027" ends a clause.
        let words: Vec<&str> = (i + 1..i + 4).filter_map(|j| self.word(j)).collect();
        let [a, b, c] = words.as_slice() else {
            return None;
        };
        // "1 March 2027" or "March 1, 2027".
        let (day, month) = match (day_number(a), month_number(b)) {
            (Some(day), Some(month)) => (day, month),
            _ => (day_number(b)?, month_number(a)?),
        };
        let year: i64 = c.parse().ok().filter(|_| c.len() == 4)?;
        Some((date_to_timestamp(year, month, day)?, 3))
    }

    /// "for 3 weeks", "for the next two months": the end (or `None` when the count is out of
    /// range) and how many words it took, starting at `i`.
    fn duration_at(&self, i: usize, now: Timestamp) -> Option<(Option<Timestamp>, usize)> {
        if self.words[i] != "for" {
            return None;
        }
        let mut j = i + 1;
        while self.same_clause(i, j) && matches!(self.words[j].as_str(), "the" | "next" | "another")
        {
            j += 1;
        }
        if !self.same_clause(i, j + 1) {
            return None;
        }
        let count_word = self.words[j].as_str();
        let count = count_word.parse::<i64>().ok().or_else(|| {
            NUMBER_WORDS
                .iter()
                .find(|(word, _)| *word == count_word)
                .map(|(_, n)| *n)
        })?;
        let unit = self.words[j + 1].trim_end_matches('s');
        if !matches!(
            unit,
            "hour" | "day" | "week" | "fortnight" | "month" | "year"
        ) {
            return None;
        }
        let len = j + 2 - i;
        if !(1..=MAX_COUNT).contains(&count) {
            return Some((None, len));
        }
        let until = match unit {
            "hour" => now.plus_millis(count * 3_600_000),
            "day" => now.plus_millis(count * DAY_MS),
            "week" => now.plus_millis(count * 7 * DAY_MS),
            "fortnight" => now.plus_millis(count * 14 * DAY_MS),
            "month" => add_months(now, count),
            _ => add_months(now, count * 12),
        };
        Some((Some(until), len))
    }

    /// Every tool mention, with the "any tool" and "no tools" phrases.
    fn tools(&self, used: &mut [bool]) -> ToolMentions {
        let mut mentions = ToolMentions::default();
        let mut i = 0;
        while i < self.words.len() {
            let len = if let Some(phrase) = ANY_TOOL.iter().find(|p| self.phrase_at(i, p)) {
                mentions.named.push(self.mention(i, name(ANY)));
                phrase.len()
            } else if let Some(phrase) = NO_TOOLS.iter().find(|p| self.phrase_at(i, p)) {
                mentions.no_tools |= !self.negated[i] && !self.excepted[i];
                phrase.len()
            } else if let Some((phrase, tool)) =
                TOOL_PHRASES.iter().find(|(p, _)| self.phrase_at(i, p))
            {
                mentions.named.push(self.mention(i, name(tool)));
                phrase.len()
            } else {
                i += 1;
                continue;
            };
            used[i..i + len].fill(true);
            i += len;
        }
        mentions
    }

    /// Every place mention.
    fn contexts(&self, used: &mut [bool]) -> Vec<Mention> {
        let mut mentions = Vec::new();
        for i in 0..self.words.len() {
            if let Some(phrase) = ANY_CONTEXT.iter().find(|p| self.phrase_at(i, p)) {
                mentions.push(self.mention(i, name(ANY)));
                used[i..i + phrase.len()].fill(true);
                continue;
            }
            if self.words[i] == "at" {
                if let Some((_, place)) = AT_PLACES
                    .iter()
                    .find(|(word, _)| self.phrase_at(i, &["at", *word]))
                {
                    mentions.push(self.mention(i, name(place)));
                    used[i + 1] = true;
                }
                continue;
            }
            if !PLACE_PREPOSITIONS.contains(&self.words[i].as_str()) {
                continue;
            }
            let mut j = i + 1;
            while self.same_clause(i, j) && DETERMINERS.contains(&self.words[j].as_str()) {
                j += 1;
            }
            // "in project-alpha", "in project alpha", then "in the alpha project".
            let place = if self.same_clause(i, j)
                && (self.words[j].starts_with("project-") || self.words[j].starts_with("project_"))
            {
                Some(j)
            } else if self.same_clause(i, j + 1) && PLACE_KEYWORDS.contains(&self.words[j].as_str())
            {
                Some(j + 1)
            } else if self.same_clause(i, j + 1)
                && PLACE_KEYWORDS.contains(&self.words[j + 1].as_str())
            {
                Some(j)
            } else {
                None
            };
            if let Some(at) = place.filter(|&at| is_place_name(&self.words[at]))
                && let Ok(place_name) = Name::parse(&self.words[at])
            {
                mentions.push(self.mention(i, place_name));
                used[at] = true;
            }
        }
        mentions
    }

    /// Every subject word not already read as part of something else.
    fn domains(&self, used: &[bool]) -> Vec<Mention> {
        self.words
            .iter()
            .enumerate()
            .filter(|(i, _)| !used[*i])
            .filter_map(|(i, word)| {
                DOMAIN_WORDS
                    .iter()
                    .find(|(vocabulary, _)| vocabulary == word)
                    .map(|(_, domain)| self.mention(i, name(domain)))
            })
            .collect()
    }

    /// Which kind the words ask for.
    fn kind(&self) -> KindReading {
        let mut kinds: Vec<ContractKind> = Vec::new();
        let mut forbids = false;
        for i in 0..self.words.len() {
            let word = self.words[i].as_str();
            if FORBID_WORDS.contains(&word) && !self.negated[i] {
                forbids = true;
            }
            if self.forbids_at(i) {
                forbids = true;
            }
            if GENERALIZE_WORDS.contains(&word) && self.negation_within(i, 3) {
                kinds.push(ContractKind::Episodic);
                continue;
            }
            if !self.negated[i]
                && !self.excepted[i]
                && let Some((_, kind)) = KIND_PHRASES.iter().find(|(p, _)| self.phrase_at(i, p))
            {
                kinds.push(*kind);
            }
        }
        kinds.sort();
        kinds.dedup();
        match (forbids, kinds.as_slice()) {
            (true, []) => KindReading::Clear(ContractKind::Prohibited),
            // "Watch my cooking but keep nothing": watching is allowed, keeping forbidden.
            (true, [ContractKind::Observation]) => KindReading::Clear(ContractKind::Observation),
            (true, _) => KindReading::Mixed,
            (false, [kind]) => KindReading::Clear(*kind),
            (false, _) => KindReading::Unclear,
        }
    }

    /// A learning verb at `i` that is negated ("never learn", "do not want you to remember")
    /// or followed by "nothing" ("keep nothing"), unless the clause goes on to name a kind
    /// ("do not learn strategies" limits the kind; it does not forbid).
    fn forbids_at(&self, i: usize) -> bool {
        if !LEARNING_VERBS.contains(&self.words[i].as_str()) {
            return false;
        }
        let negated_verb =
            (i.saturating_sub(4)..i).any(|j| self.same_clause(j, i) && self.is_general_negation(j));
        let nothing_after =
            (i + 1..=i + 2).any(|j| self.same_clause(i, j) && self.words[j] == "nothing");
        if !negated_verb && !nothing_after {
            return false;
        }
        let names_kind = (i + 1..self.words.len())
            .take_while(|&j| self.same_clause(i, j))
            .any(|j| KIND_PHRASES.iter().any(|(p, _)| self.phrase_at(j, p)));
        !names_kind
    }

    /// A negation word within `window` words before `i`, in the same clause.
    fn negation_within(&self, i: usize, window: usize) -> bool {
        (i.saturating_sub(window)..i)
            .any(|j| self.same_clause(j, i) && NEGATIONS.contains(&self.words[j].as_str()))
    }

    /// "only while I am present", "when I am here".
    fn owner_presence(&self) -> bool {
        (0..self.words.len()).any(|i| {
            ["while", "when"]
                .iter()
                .any(|w| self.phrase_at(i, &[*w, "i", "am"]))
                && self.same_clause(i, i + 3)
                && matches!(self.words[i + 3].as_str(), "present" | "here" | "around")
        })
    }

    /// Sharing mentioned without a negation in front of it.
    fn mentions_sharing(&self) -> bool {
        (0..self.words.len()).any(|i| {
            SHARE_WORDS.contains(&self.words[i].as_str())
                && !self.negated[i]
                && !self.negation_within(i, 3)
        })
    }
}

/// Whether a word may be read as a place's name.
fn is_place_name(word: &str) -> bool {
    !NOT_A_NAME.contains(&word)
        && !NEGATIONS.contains(&word)
        && !KIND_PHRASES
            .iter()
            .any(|(p, _)| p.len() == 1 && p[0] == word)
        && !LEARNING_VERBS.contains(&word)
}

fn read_tools(mentions: &ToolMentions) -> ToolReading {
    let (said, unsaid): (Vec<&Mention>, Vec<&Mention>) = mentions
        .named
        .iter()
        .partition(|m| !m.negated && !m.excepted);
    let any = said.iter().any(|m| m.name.is_any());
    let excluded = unsaid.iter().any(|m| !m.name.is_any());
    let named = unique(said.into_iter().filter(|m| !m.name.is_any()));
    // "any tool except the browser" cannot be written as a list; neither can "no tools" next
    // to a named one.
    match (any, mentions.no_tools, named.is_empty()) {
        (true, false, true) if !excluded => ToolReading::List(vec![name(ANY)]),
        (false, true, true) => ToolReading::List(Vec::new()),
        (false, false, false) => ToolReading::List(named),
        (false, false, true) => ToolReading::Unstated,
        _ => ToolReading::Unclear,
    }
}

/// One duration, or the question to ask.
fn resolve_retention(findings: &[RetentionFinding]) -> Result<Option<Retention>, &'static str> {
    if findings.contains(&RetentionFinding::Unreadable) {
        return Err(ASK_BAD_DATE);
    }
    if findings.contains(&RetentionFinding::Unclear) {
        return Err(ASK_RETENTION);
    }
    let mut stated: Vec<Retention> = Vec::new();
    for finding in findings {
        if let RetentionFinding::Stated(retention) = finding
            && !stated.contains(retention)
        {
            stated.push(*retention);
        }
    }
    match stated.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(ASK_RETENTION_CONFLICT),
    }
}

/// Names in first-mention order, without repeats.
fn unique<'a>(mentions: impl Iterator<Item = &'a Mention>) -> Vec<Name> {
    let mut names: Vec<Name> = Vec::new();
    for mention in mentions {
        if !names.contains(&mention.name) {
            names.push(mention.name.clone());
        }
    }
    names
}

/// A name from this file's vocabularies, known to be valid.
fn name(raw: &str) -> Name {
    Name::parse(raw).expect("vocabulary names are valid")
}

fn day_number(word: &str) -> Option<u32> {
    let digits = word.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &word[digits.len()..];
    if !matches!(suffix, "" | "st" | "nd" | "rd" | "th") || digits.is_empty() || digits.len() > 2 {
        return None;
    }
    digits.parse().ok().filter(|day| (1..=31).contains(day))
}

fn month_number(word: &str) -> Option<u32> {
    MONTH_WORDS
        .iter()
        .position(|month| *month == word)
        .map(|index| index as u32 + 1)
}

/// The person's own words, kept as the description: trimmed, control characters replaced
/// by spaces, cut to the longest description allowed.
fn description(text: &str) -> Option<String> {
    let cleaned: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if cleaned.is_empty() {
        return None;
    }
    let mut end = cleaned.len().min(DESCRIPTION_MAX_BYTES);
    while !cleaned.is_char_boundary(end) {
        end -= 1;
    }
    Some(cleaned[..end].to_string())
}

/// Lower-cased words, with `None` where punctuation ends a clause. Contractions are opened
/// so that negations are single words.
fn tokenize(text: &str) -> Vec<Option<String>> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let lowered = text.to_lowercase().replace(['\u{2018}', '\u{2019}'], "'");
    let chars: Vec<char> = lowered.chars().collect();
    for (index, &c) in chars.iter().enumerate() {
        let next_is_word = chars
            .get(index + 1)
            .is_some_and(|next| next.is_alphanumeric());
        if c.is_whitespace() {
            push_word(&mut tokens, &mut current);
        } else if ",;:!?()[]{}\"".contains(c) || (c == '.' && (current.is_empty() || !next_is_word))
        {
            push_word(&mut tokens, &mut current);
            tokens.push(None);
        } else if c == '/' {
            // "coding/debugging" is two words.
            push_word(&mut tokens, &mut current);
        } else {
            current.push(c);
        }
    }
    push_word(&mut tokens, &mut current);
    tokens
}

/// Adds a finished word (trimmed of stray symbols, contractions opened).
fn push_word(tokens: &mut Vec<Option<String>>, current: &mut String) {
    let word = std::mem::take(current);
    let word = word
        .trim_start_matches(|c: char| !c.is_alphanumeric())
        .trim_end_matches(|c: char| !(c.is_alphanumeric() || c == '+' || c == '#'));
    if word.is_empty() {
        return;
    }
    let opened: &[&str] = match word {
        "don't" | "dont" => &["do", "not"],
        "doesn't" | "doesnt" => &["does", "not"],
        "didn't" | "didnt" => &["did", "not"],
        "can't" | "cant" | "cannot" => &["can", "not"],
        "won't" => &["will", "not"],
        "shouldn't" | "shouldnt" => &["should", "not"],
        "mustn't" | "mustnt" => &["must", "not"],
        "i'm" => &["i", "am"],
        _ => &[],
    };
    if !opened.is_empty() {
        tokens.extend(opened.iter().map(|w| Some(w.to_string())));
        return;
    }
    if let Some(stem) = word.strip_suffix("n't") {
        tokens.push(Some(stem.to_string()));
        tokens.push(Some("not".to_string()));
        return;
    }
    // Possessives and other endings carry nothing this reader uses: "alice's" → "alice".
    let stem = ["'s", "'re", "'ll", "'ve", "'d"]
        .iter()
        .find_map(|suffix| word.strip_suffix(suffix))
        .unwrap_or(word);
    tokens.push(Some(stem.to_string()));
}
