//! The reviewed events as a labelled dataset in the row format the head-training scripts
//! read (`scripts/models/datasets.py`): `{"text", "labels": {key: 0|1}, "source":
//! "feedback:<reviewer>"}`, one line per reviewed event; events without a review are skipped.

use std::io::Write;

use super::labels::Reviews;

/// What an export wrote and skipped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    pub written: usize,
    /// Event records that could not be read (no `id` or `text`).
    pub unreadable: usize,
}

/// Writes one dataset row for `event` (an event record as read) if it was reviewed.
pub fn export_event(
    event: &[u8],
    reviews: &Reviews,
    out: &mut impl Write,
    counts: &mut Exported,
) -> std::io::Result<()> {
    #[derive(serde::Deserialize)]
    struct Row {
        id: String,
        text: String,
    }
    let Ok(row) = serde_json::from_slice::<Row>(event) else {
        counts.unreadable += 1;
        return Ok(());
    };
    let Some(answers) = reviews.events.get(row.id.as_str()) else {
        return Ok(());
    };
    let labels: serde_json::Map<String, serde_json::Value> = answers
        .iter()
        .map(|(key, answer)| (key.clone(), u8::from(answer.value).into()))
        .collect();
    let reviewer = answers
        .values()
        .find_map(|a| a.reviewer.clone())
        .unwrap_or_default();
    let record = serde_json::json!({
        "text": row.text,
        "labels": labels,
        "source": format!("feedback:{reviewer}"),
    });
    serde_json::to_writer(&mut *out, &record)?;
    out.write_all(b"\n")?;
    counts.written += 1;
    Ok(())
}
