//! The plain-language members of Contracts1 on a real bus: summaries a person approves,
//! templates, and drafts from templates and from sentences.

use crate::common::bus::*;
use crate::common::in_process::InProcessDaemon;

fn text(dict: &std::collections::HashMap<String, zbus::OwnedVariant>, key: &str) -> String {
    String::try_from(dict[key].try_clone().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summaries_templates_and_drafts_in_plain_language() {
    if !require_root("summaries_templates_and_drafts_in_plain_language") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = InProcessDaemon::start(&bus, &static_config("AIRGAP", ""));
    let owner = connect_as(&bus, users().owner, &[]).await;
    let other = connect_as(&bus, users().other, &[]).await;
    let contracts = Contracts1Proxy::new(&owner).await.unwrap();

    let id = contracts
        .create_draft("episodic", &episodic_spec(&["coding"]))
        .await
        .unwrap();
    let summary = contracts.summarize(&id).await.unwrap();
    assert!(summary.contains("coding"), "{summary}");
    assert!(
        summary.contains("Nothing will leave this machine."),
        "{summary}"
    );
    assert!(summary.contains("revoke"), "{summary}");
    let stranger = Contracts1Proxy::new(&other)
        .await
        .unwrap()
        .summarize(&id)
        .await;
    assert_eq!(outcome(&stranger), "org.learningcontracts.Error.NotFound");

    let templates = contracts.templates().await.unwrap();
    assert!(templates.len() >= 7, "only {} templates", templates.len());
    for template in &templates {
        for key in ["name", "title", "description", "kind", "params"] {
            assert!(template.contains_key(key), "a template lacks {key}");
        }
    }
    let names: Vec<String> = templates.iter().map(|t| text(t, "name")).collect();

    // Every template with its required parameters makes a draft that passes review.
    for template in &templates {
        let name = text(template, "name");
        let params: Vec<std::collections::HashMap<String, zbus::OwnedVariant>> =
            template["params"].try_clone().unwrap().try_into().unwrap();
        let mut given = Vec::new();
        for param in &params {
            let required = bool::try_from(param["required"].try_clone().unwrap()).unwrap();
            let default = text(param, "default");
            let param_name = text(param, "name");
            if required && default.is_empty() {
                let value = match param_name.as_str() {
                    "until" => "2099-01-31".to_string(),
                    "weeks" => "4".to_string(),
                    _ => "alpha".to_string(),
                };
                given.push((param_name, value));
            }
        }
        let pairs: Vec<(&str, zbus::Variant<'_>)> = given
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().into()))
            .collect();
        let draft = contracts.draft_from_template(&name, &dict(&pairs)).await;
        let Ok(draft) = draft else {
            // A template whose required choice is among optional parameters says which.
            let message = error_message(&draft);
            assert!(
                message.contains("needs one of"),
                "template {name} refused its required parameters: {message}"
            );
            continue;
        };
        let submitted = contracts.submit(&draft).await;
        assert_eq!(
            outcome(&submitted),
            "ok",
            "template {name}'s draft does not pass review: {}",
            error_message(&submitted)
        );
    }
    let unknown = contracts
        .draft_from_template("no-such-template", &dict(&[]))
        .await;
    assert_eq!(outcome(&unknown), "org.freedesktop.DBus.Error.InvalidArgs");
    assert!(
        error_message(&unknown).contains(&names[0]),
        "the error lists the templates: {}",
        error_message(&unknown)
    );

    let (draft, summary, questions) = contracts
        .draft_from_text("Remember my cooking experiments at home for 3 weeks")
        .await
        .unwrap();
    assert!(
        !draft.is_empty(),
        "a clear sentence makes a draft: {summary} {questions:?}"
    );
    let made = contracts.get(&draft).await.unwrap();
    assert_eq!(text(&made, "state"), "draft");
    let domains: Vec<String> = made["domains"].try_clone().unwrap().try_into().unwrap();
    assert_eq!(domains, vec!["cooking".to_string()]);
    assert!(summary.contains("cooking"), "{summary}");

    let (none, _, questions) = contracts.draft_from_text("do the thing").await.unwrap();
    assert!(none.is_empty(), "an unclear sentence makes no draft");
    assert!(!questions.is_empty(), "it asks instead of guessing");
}
