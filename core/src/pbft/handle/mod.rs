//! One file per message or event kind; each adds `on_<message>` methods to
//! [`super::Replica`]. Handlers validate fully before they mutate, so a
//! rejected input leaves the replica unchanged.

mod checkpoint;
mod commit;
mod fetch;
pub(crate) mod learn;
mod new_view;
mod pre_prepare;
mod prepare;
mod request;
mod staleness;
mod state_transfer;
mod view_change;

#[cfg(test)]
pub(crate) use new_view::{assign_sequence_numbers, select_initial_checkpoint};
