//! Which threshold judges a response, chosen by the shape of its event: an answer to a single
//! question (a RAG question-answer call) is judged against the `question` threshold, chosen on
//! question-answer pairs; other responses (dialogue turns, summaries) against the general one.
//! The same combiner scores both; only the cut differs, because an unsupported answer to a
//! question scores lower than an unsupported dialogue turn or summary (it is short, and much of
//! it comes from the question): the general threshold misses most of them.

use serde::Deserialize;

/// How the threshold is chosen (`shape` in the operator's table).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShapeChoice {
    /// By the event: a prompt that is one question picks `question`, anything else `general`.
    #[default]
    Auto,
    /// Every response is an answer to a question.
    Question,
    /// Every response is judged against the general threshold.
    General,
}

/// The shape a response was scored as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerShape {
    Question,
    General,
}

impl AnswerShape {
    pub fn label(self) -> &'static str {
        match self {
            AnswerShape::Question => "question",
            AnswerShape::General => "general",
        }
    }
}

/// A question longer than this is read as a task description, not a question.
const MAX_QUESTION_WORDS: usize = 80;

/// Markers of a dialogue transcript passed as the prompt: its answer is a dialogue turn.
const TURN_MARKERS: &[&str] = &[
    "[Human]",
    "[Assistant]",
    "[User]",
    "Human:",
    "Assistant:",
    "User:",
    "<|user|>",
    "<|assistant|>",
];

impl ShapeChoice {
    pub fn of(self, prompt: Option<&str>) -> AnswerShape {
        match self {
            ShapeChoice::Question => AnswerShape::Question,
            ShapeChoice::General => AnswerShape::General,
            ShapeChoice::Auto if prompt.is_some_and(is_question) => AnswerShape::Question,
            ShapeChoice::Auto => AnswerShape::General,
        }
    }
}

/// Whether a prompt asks one question: it ends with a question mark, is short, and is not a
/// dialogue transcript.
pub fn is_question(prompt: &str) -> bool {
    let asked = prompt
        .trim_end()
        .trim_end_matches(['"', '\'', ')', '\u{201d}'])
        .trim_end();
    asked.ends_with('?')
        && asked.split_whitespace().count() <= MAX_QUESTION_WORDS
        && !TURN_MARKERS.iter().any(|marker| asked.contains(marker))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_question_is_the_question_shape() {
        assert!(is_question("Which year was the bridge opened?"));
        assert!(is_question("  Who directed \"Zodiac?\"  "));
        assert!(!is_question("Summarize the article below."));
        assert!(!is_question(
            "[Human]: Do you like Iron Man? [Assistant]: Sure! [Human]: Who else starred in it?"
        ));
        assert!(!is_question(&format!("{} why?", "word ".repeat(90))));
    }

    #[test]
    fn the_choice_overrides_the_prompt() {
        let question = Some("Who won?");
        assert_eq!(ShapeChoice::Auto.of(question), AnswerShape::Question);
        assert_eq!(ShapeChoice::Auto.of(None), AnswerShape::General);
        assert_eq!(ShapeChoice::General.of(question), AnswerShape::General);
        assert_eq!(ShapeChoice::Question.of(None), AnswerShape::Question);
    }
}
