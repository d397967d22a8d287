//! Home Assistant's intent templates, read and matched in Rust.
//!
//! The first layer of giot's understanding (`../shared/DESIGN.md` §1): the
//! field's own description of how people phrase smart-home commands, in
//! about 60 languages, from the PyPI package `home-assistant-intents`
//! (fetched and pinned by `scripts/fetch-intents`), in the template syntax
//! documented by `hassil`. This module knows nothing of giot's registry: it
//! parses ([`template`]), loads ([`data`]) and matches ([`matcher`]); the
//! agent maps what matched onto devices.

pub mod data;
pub mod matcher;
pub mod template;

pub use data::{Block, IntentsError, Language, SlotList};
pub use matcher::{Matcher, PhraseList, Recognition, Slot, Vocabulary, normalize};
