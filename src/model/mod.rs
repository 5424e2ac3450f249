//! The data model, a leaf of the crate: events, findings, actions and verdicts. It imports
//! nothing else of railyard, so every layer above can share it.
//!
//! - `action`: [`Action`], ordered by severity.
//! - `finding`: [`Finding`], [`Span`], [`Category`], [`Redaction`], [`Provenance`].
//! - `event`: [`Event`], [`EventKind`], [`Origin`] and the per-operator [`Prepared`] slots.
//! - `score`: [`Score`], a model operator's score of one label, recorded on request.
//! - `verdict`: the published contract ([`Verdict`], [`EnrichedRecord`]), frozen by `schemas/`.

pub mod action;
pub mod event;
pub mod finding;
pub mod score;
pub mod verdict;

pub use action::Action;
pub use event::{Chunk, Event, EventKind, Origin, Prepared, StreamWindow};
pub use finding::{Category, EventField, Finding, Location, Provenance, Redaction, Span};
pub use score::Score;
pub use verdict::{
    EnrichedRecord, FindingRecord, ShadowOf, TopologyRef, Verdict, VerdictSummary, SCHEMA_VERSION,
};
