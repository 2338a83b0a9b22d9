//! The exchange's messages as written to a file: an offer or an answer,
//! the bytes each one's signature covers, and their JSON form.

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::formats::agreement::{Group, Party};
use crate::ops::protocol::{PROTOCOL, refused};

/// Which step a message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The first message, from the initiator.
    Offer,
    /// The reply, from the responder.
    Answer,
}

impl Kind {
    /// The step's name, as messages and refusals say it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Offer => "offer",
            Kind::Answer => "answer",
        }
    }
}

/// An offer or an answer, as written to a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// [`PROTOCOL`].
    pub protocol: String,
    /// Offer or answer.
    pub kind: Kind,
    /// The group.
    pub group: Group,
    /// Who wrote it, and the RSA key version that signs it.
    pub sender: Party,
    /// Whom it is for, and their RSA key version.
    pub recipient: Party,
    /// The sender's ephemeral public value.
    #[serde(with = "crate::util::b64")]
    pub public: Vec<u8>,
    /// 16 random bytes, hex: names this message, so that a replay is seen.
    pub nonce: String,
    /// When it was made, RFC 3339 UTC to the second: a message older than
    /// [`MAX_AGE_SECS`](crate::ops::protocol::MAX_AGE_SECS) is refused as stale. (Absent from version 1
    /// messages, which are then refused by their protocol.)
    #[serde(default)]
    pub created: String,
    /// In an answer: the nonce of the offer it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_nonce: Option<String>,
    /// The sender's certificate (PEM), when its pair has one: what a
    /// receiver that does not hold the sender as a user of its store
    /// checks the signature with, once it chains to a root it trusts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// RSA-PSS-SHA256 by the sender over every field above (and, in an
    /// answer, the offer's public value too).
    #[serde(with = "crate::util::b64")]
    pub signature: Vec<u8>,
}

impl Message {
    /// What the sender signs: each field length-prefixed, and for an
    /// answer the initiator's public value, which completes the transcript.
    pub(crate) fn signed_bytes(&self, initiator_public: Option<&[u8]>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut field = |bytes: &[u8]| {
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(bytes);
        };
        field(self.protocol.as_bytes());
        field(self.kind.name().as_bytes());
        field(self.group.to_string().as_bytes());
        field(self.sender.user.as_bytes());
        field(&self.sender.key_version.to_be_bytes());
        field(self.recipient.user.as_bytes());
        field(&self.recipient.key_version.to_be_bytes());
        field(&self.public);
        field(self.nonce.as_bytes());
        field(self.created.as_bytes());
        field(self.offer_nonce.as_deref().unwrap_or_default().as_bytes());
        field(self.certificate.as_deref().unwrap_or_default().as_bytes());
        field(initiator_public.unwrap_or_default());
        out
    }

    /// Reads a message from JSON text.
    ///
    /// # Errors
    /// [`OpsError::ExchangeRefused`](crate::OpsError::ExchangeRefused) for anything that is not a message of
    /// this protocol.
    pub fn from_json(text: &str) -> Result<Self> {
        let message: Message = serde_json::from_str(text)
            .map_err(|e| refused(format!("it is not an exchange message: {e}")))?;
        if message.protocol != PROTOCOL {
            return Err(refused(format!(
                "its protocol is {:?}; this secure-kms speaks {PROTOCOL:?}",
                message.protocol
            )));
        }
        Ok(message)
    }

    /// The message as JSON text.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("messages always serialise");
        s.push('\n');
        s
    }
}
