//! Which fields of an event an operator reads (`fields = ["text", "context"]`): the text, a
//! response's prompt, and each context passage (retrieved documents, tool results) on its own,
//! so that instructions hidden in data are found and the finding names the passage.
//! Passages are read once per event: not in the windows of a streamed response, whose final
//! verdict reads them.

use crate::diagnostics::{join, Errors};
use crate::model::{Event, EventField, Location};

/// Without a `fields` option an operator reads the text only.
pub fn default_fields() -> Vec<EventField> {
    vec![EventField::Text]
}

/// `fields` must name at least one field, each once.
pub fn validate(path: &str, fields: &[EventField], errors: &mut Errors) {
    let at = join(path, "fields");
    if fields.is_empty() {
        errors.push(at.clone(), "name at least one of text, prompt, context");
    }
    for (i, field) in fields.iter().enumerate() {
        if fields[..i].contains(field) {
            errors.push(
                format!("{at}[{i}]"),
                format!("`{}` is listed twice", field.as_str()),
            );
        }
    }
}

/// Whether `fields` names anything besides the text.
pub fn reads_passages(fields: &[EventField]) -> bool {
    fields.iter().any(|f| *f != EventField::Text)
}

/// The passages besides the text that `fields` asks for, with where each lies; none for a
/// stream's window.
pub fn passages<'e>(event: &'e Event, fields: &[EventField]) -> Vec<(Location, &'e str)> {
    if event.window.is_some() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for field in fields {
        match field {
            EventField::Text => {}
            EventField::Prompt => {
                if let Some(prompt) = event.prompt.as_deref().filter(|p| !p.is_empty()) {
                    let location = Location {
                        field: EventField::Prompt,
                        index: None,
                    };
                    out.push((location, prompt));
                }
            }
            EventField::Context => {
                for (i, passage) in event.context.iter().enumerate() {
                    if passage.is_empty() {
                        continue;
                    }
                    let location = Location {
                        field: EventField::Context,
                        index: Some(i as u32),
                    };
                    out.push((location, &**passage));
                }
            }
        }
    }
    out
}

/// `context[2]`, `prompt`: a location as a reason names it.
pub fn describe(location: &Location) -> String {
    match location.index {
        Some(i) => format!("{}[{i}]", location.field.as_str()),
        None => location.field.as_str().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn passages_follow_the_fields_and_skip_stream_windows() {
        let mut event = Event::prompt("e", "the answer");
        event.prompt = Some(Arc::from("the question"));
        event.context = vec![Arc::from("doc a"), Arc::from(""), Arc::from("doc c")].into();
        let all = [EventField::Text, EventField::Prompt, EventField::Context];
        let found: Vec<(String, &str)> = passages(&event, &all)
            .into_iter()
            .map(|(l, p)| (describe(&l), p))
            .collect();
        assert_eq!(
            found,
            vec![
                ("prompt".to_string(), "the question"),
                ("context[0]".to_string(), "doc a"),
                ("context[2]".to_string(), "doc c"),
            ]
        );
        assert!(passages(&event, &[EventField::Text]).is_empty());
        event.window = Some(crate::model::StreamWindow::All);
        assert!(passages(&event, &all).is_empty());
    }

    #[test]
    fn empty_and_repeated_fields_are_errors() {
        let mut errors = Errors::default();
        validate("operators.inj", &[], &mut errors);
        validate(
            "operators.inj",
            &[EventField::Context, EventField::Context],
            &mut errors,
        );
        let text = format!("{errors:?}");
        assert!(text.contains("operators.inj.fields"), "{text}");
        assert!(text.contains("operators.inj.fields[1]"), "{text}");
    }
}
