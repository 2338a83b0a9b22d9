//! A user's key exchanges between two processes that are still in
//! progress, as their record in `key_store.json` keeps them: the offers
//! waiting for an answer and the nonces already taken. The steps that
//! change them are in [`crate::ops::protocol`].

use serde::{Deserialize, Serialize};

use crate::crypto::wrap::WrappedKey;
use crate::formats::agreement::Group;
use crate::util::time::Timestamp;

/// An offer that waits for its answer: the initiator's ephemeral private
/// value, wrapped under their password.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingOffer {
    /// The offer's nonce.
    pub nonce: String,
    /// The group.
    pub group: Group,
    /// Whom it was sent to.
    pub recipient: String,
    /// When it was made.
    #[serde(deserialize_with = "crate::util::time::deserialize")]
    pub created: Timestamp,
    /// The private value, wrapped.
    pub secret: WrappedKey,
}

/// A user's exchanges in progress and the messages they have taken.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeState {
    /// Offers made and not yet finished.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<PendingOffer>,
    /// Nonces of the offers accepted and answers finished: a message seen
    /// once is refused as a replay.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<String>,
}

impl ExchangeState {
    /// Whether there is nothing to store.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.seen.is_empty()
    }
}
