//! A key exchange between two processes, through files: `exchange offer`,
//! `exchange accept`, `exchange finish`.
//!
//! 1. Alice's **offer** names the group, both parties with their RSA key
//!    versions, her ephemeral public value, a fresh random nonce and the
//!    time it was made, and is signed with her RSA key (PSS, SHA-256). Her ephemeral private value
//!    waits in her store record, wrapped under her password.
//! 2. Bob **accepts**: he checks that the offer is for him, is fresh (made
//!    less than [`MAX_AGE_SECS`] ago, and not in the future beyond
//!    [`CLOCK_SKEW_SECS`]), is signed by the key the store holds for
//!    Alice's version, which must be her active primary (not superseded,
//!    expired, revoked or destroyed: a private key exported before a
//!    rotation cannot speak for her), is not a replay, and that its public
//!    value is valid. His **answer**
//!    carries his public value, a nonce, the offer's nonce, and a signature
//!    over the answer and Alice's public value (the whole transcript). He
//!    derives the session key.
//! 3. Alice **finishes**: the answer must be for her, fresh, answer an
//!    offer she made less than twice [`MAX_AGE_SECS`] ago and still waits
//!    on, in the same group, signed by the active primary key of the
//!    recipient of that offer. She derives the same key and deletes her private value.
//!
//! The session key is [`crate::formats::agreement::Transcript::session_key`]'s, bound
//! to both identities, both public values and the group.

use serde::Serialize;

use crate::crypto::kdf::{Password, PasswordKey};
use crate::crypto::wrap::WrappedKey;
use crate::formats::agreement::{EphemeralKey, Group, Party, Transcript};
use crate::formats::exchange_state::PendingOffer;
use crate::keys::KeyStore;
use crate::keys::keyring::versions;
use crate::keys::keyring::versions_of;
use crate::keys::unlock::UnlockedUser;
use crate::pki::{sign_public_key, verify_signature};
use crate::revocation::RevocationList;
use crate::store::Store;
use crate::store::trust::KeyUse;
use crate::util::fingerprint::{self, sha256_hex};
use crate::util::time::{self, Timestamp};
use crate::util::user::UserId;
use crate::{Error, KeyError, OpsError, Result};

/// The protocol name and version every message carries. Version 2 signed
/// the time each message was made; version 3 also signs the sender's
/// certificate, which lets two stores exchange keys. Older messages are
/// refused.
pub const PROTOCOL: &str = "secure-kms exchange v3";

/// How long after it was made a message is accepted: one hour. An exchange
/// through files is meant to be finished in one sitting (a lesson, a
/// support call); a copy of an older offer or answer, found later, cannot
/// start or finish one. An offer waits for its answer at most twice this.
pub const MAX_AGE_SECS: u64 = 3600;

/// How far in the future a message's time may be, for the difference
/// between two machines' clocks: 5 minutes, as Kerberos allows by default
/// (MIT krb5's `clockskew`).
pub const CLOCK_SKEW_SECS: u64 = 300;

const SECRET_PURPOSE: &str = "exchange secret wrap";

mod certificates;
mod message;

use certificates::{check_by_certificate, own_certificate};

pub use message::{Kind, Message};

pub(super) fn refused(why: String) -> Error {
    Error::Ops(OpsError::ExchangeRefused(why))
}

/// When `message` says it was made, checked to be fresh at `now`: not
/// older than [`MAX_AGE_SECS`], nor later than now plus
/// [`CLOCK_SKEW_SECS`].
fn check_fresh(message: &Message, now: Timestamp) -> Result<Timestamp> {
    let what = message.kind.name();
    let created = humantime::parse_rfc3339(&message.created)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(Timestamp::from_duration)
        .ok_or_else(|| {
            refused(format!(
                "its time {:?} is not an RFC 3339 UTC time such as 2026-01-31T09:00:00Z",
                message.created
            ))
        })?;
    if created > now + CLOCK_SKEW_SECS as f64 {
        return Err(refused(format!(
            "this {what} says it was made at {}, more than {} minutes after now ({}): check both machines' clocks",
            time::format(created),
            CLOCK_SKEW_SECS / 60,
            time::format(now)
        )));
    }
    if now - created > MAX_AGE_SECS as f64 {
        return Err(refused(format!(
            "this {what} was made at {}, more than {} minutes ago: it is stale; ask for a new one",
            time::format(created),
            MAX_AGE_SECS / 60
        )));
    }
    Ok(created)
}

fn secret_aad(user: &str, nonce: &str, group: Group, recipient: &str) -> Vec<u8> {
    format!("secure-kms/v1/{user}/exchange/{nonce}/{group}/{recipient}").into_bytes()
}

fn new_nonce() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(fingerprint::hex(&bytes))
}

/// The store, loaded with the record of `message`'s sender checked against
/// the audit log: the key its signature is checked with is the one the
/// log recorded for that user and version.
fn sender_checked(store: &Store, message: &Message) -> Result<(KeyStore, RevocationList)> {
    let sender = UserId::new(&message.sender.user)
        .map_err(|e| refused(format!("its sender is no valid user: {e}")))?;
    crate::ops::commands::load_for_use(store, &[&sender], KeyUse::PublicOnly)
}

/// A side that signs: its keys unlocked, its RSA key active.
fn signer(
    store: &Store,
    user_id: &UserId,
    password: &Password,
    command: &str,
) -> Result<(UnlockedUser, Party)> {
    let unlocked = crate::ops::commands::signing_keys(store, user_id, password, command)?;
    let party = Party {
        user: user_id.to_string(),
        key_version: unlocked.version,
    };
    Ok((unlocked, party))
}

/// Checks a message's signature against the key the store holds for its
/// sender's version, which must be the sender's active primary: a version
/// superseded by a rotation, past its active period, revoked or destroyed
/// no longer speaks for its owner (NIST SP 800-57: a deactivated key may
/// verify old signatures, never make new ones), as in the one-process
/// exchange, which signs with the active primary only.
fn check_signature(
    store: &Store,
    keys: &KeyStore,
    revoked: &RevocationList,
    message: &Message,
    initiator_public: Option<&[u8]>,
) -> Result<()> {
    let what = message.kind.name();
    let sender = UserId::new(&message.sender.user)
        .map_err(|e| refused(format!("its sender is no valid user: {e}")))?;
    let Some(record) = keys.get(&sender)? else {
        // A sender of another store speaks through its certificate.
        return check_by_certificate(store, &sender, message, initiator_public);
    };
    // The caller loaded the store with the sender's record checked against
    // the log and, with a CA, its certificates ([`sender_checked`]).
    let all = versions(record);
    let version = all
        .iter()
        .find(|v| v.version == message.sender.key_version)
        .ok_or_else(|| {
            refused(format!(
                "{sender} has no key version {}",
                message.sender.key_version
            ))
        })?;
    if let Some(r) = revoked.find(&sender, version) {
        return Err(Error::Key(KeyError::RevokedSigner {
            what: what.to_string(),
            user: sender.to_string(),
            version: version.version,
            revoked_at: r.revoked_at_text(),
            reason: r.reason.to_string(),
        }));
    }
    let primary = all.last().map_or(0, |v| v.version);
    if version.version != primary {
        return Err(refused(format!(
            "it is signed with version {} of {sender}'s keys, and {sender}'s primary is version {primary}: an old key no longer speaks for {sender}; ask {sender} for a new {what}",
            version.version
        )));
    }
    let state = crate::keys::keyring::status(record, revoked, &sender, time::now())
        .into_iter()
        .find(|s| s.version == version.version);
    if state.as_ref().map(|s| s.state) != Some(crate::keys::keyring::KeyState::Active) {
        return Err(refused(format!(
            "version {} of {sender}'s keys, which signed it, is {}, not active: it may no longer sign",
            version.version,
            state.map_or_else(|| "unknown".to_owned(), |s| s.state_text())
        )));
    }
    let pair = version
        .asymmetric
        .ok_or_else(|| refused(format!("{sender}'s version has no RSA key")))?;
    verify_signature(
        &pair.public_key()?,
        &message.signed_bytes(initiator_public),
        &message.signature,
    )
    .map_err(|_| {
        refused(format!(
            "its signature does not verify with {sender}'s key version {}: the {what} was edited, or signed by someone else",
            message.sender.key_version
        ))
    })
}

/// `exchange offer`: `initiator` offers an exchange to `recipient` in
/// `group`. Returns the offer to send.
///
/// # Errors
/// As [`crate::keys::unlock::unlock_user`], [`KeyError::Expired`] for a key that may not sign;
/// [`KeyError::UnknownUser`] for an unknown recipient; [`KeyError::Revoked`] when
/// the recipient's key is compromised.
pub fn offer(
    store: &Store,
    initiator: &UserId,
    password: &Password,
    recipient: &UserId,
    group: Group,
) -> Result<Message> {
    if initiator == recipient {
        return Err(refused("an exchange needs two different users".to_owned()));
    }
    let (unlocked, sender) = signer(store, initiator, password, "exchange offer")?;
    // A recipient in this store: its key is the one the log recorded, and
    // the offer names its version. One in another store (which this one
    // cannot see) is named with version 0, and checks the offer with the
    // certificate it carries.
    let (keys, revoked) =
        crate::ops::commands::load_for_use(store, &[recipient], KeyUse::PublicOnly)?;
    let to = match keys.get(recipient)? {
        Some(_) => {
            let all = versions_of(&keys, recipient)?;
            crate::revocation::check_not_revoked(&revoked, recipient, &all)?;
            all.last()
                .map(|v| v.version)
                .ok_or_else(|| Error::Key(KeyError::UnknownUser(recipient.to_string())))?
        }
        None if own_certificate(&unlocked).is_some() => 0,
        None => return Err(Error::Key(KeyError::UnknownUser(recipient.to_string()))),
    };
    let ephemeral = EphemeralKey::generate(group)?;
    let mut message = Message {
        protocol: PROTOCOL.to_owned(),
        kind: Kind::Offer,
        group,
        sender,
        recipient: Party {
            user: recipient.to_string(),
            key_version: to,
        },
        public: ephemeral.public_bytes(),
        nonce: new_nonce()?,
        created: time::format(time::now()),
        offer_nonce: None,
        certificate: own_certificate(&unlocked),
        signature: Vec::new(),
    };
    let (private_key, _) = unlocked.key_pair.as_ref().expect("checked by signer");
    message.signature = sign_public_key(private_key, &message.signed_bytes(None))?;
    let secret = WrappedKey::wrap(
        &unlocked.password_key,
        SECRET_PURPOSE,
        &secret_aad(
            initiator.as_str(),
            &message.nonce,
            group,
            recipient.as_str(),
        ),
        &ephemeral.to_secret_bytes(),
    )?;
    let pending = PendingOffer {
        nonce: message.nonce.clone(),
        group,
        recipient: recipient.to_string(),
        created: time::now(),
        secret,
    };
    store.update(|keys, _, _| {
        keys.entry(initiator)?.exchanges.pending.push(pending);
        Ok(())
    })?;
    Ok(message)
}

/// What an accepted or finished exchange agreed on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Agreed {
    /// The group.
    pub group: Group,
    /// Who offered.
    pub initiator: Party,
    /// Who answered.
    pub responder: Party,
    /// SHA-256 of the session key, hex.
    pub session_key_fingerprint: String,
}

/// `exchange accept`: `responder` checks `offer` and answers it. Returns
/// the answer to send back and the agreed key's fingerprint.
///
/// # Errors
/// [`OpsError::ExchangeRefused`] saying which check failed (addressed to
/// someone else, an edited or foreign signature, a replay, a group other
/// than `want_group`, a stale recipient version); [`KeyError::RevokedSigner`] for a
/// revoked signer; [`CryptoError::InvalidPublicKey`](crate::CryptoError::InvalidPublicKey); as [`offer`].
pub fn accept(
    store: &Store,
    responder: &UserId,
    password: &Password,
    offer: &Message,
    want_group: Option<Group>,
) -> Result<(Message, Agreed)> {
    if offer.kind != Kind::Offer {
        return Err(refused(
            "it is an answer, not an offer: give it to `exchange finish`".to_owned(),
        ));
    }
    if offer.recipient.user != responder.as_str() {
        return Err(refused(format!(
            "this offer is addressed to {}, not to {responder}",
            offer.recipient.user
        )));
    }
    let (keys, revoked) = sender_checked(store, offer)?;
    check_fresh(offer, time::now())?;
    check_signature(store, &keys, &revoked, offer, None)?;
    if let Some(want) = want_group
        && want != offer.group
    {
        return Err(refused(format!(
            "group mismatch: the offer is in {}, and {want} was asked for",
            offer.group
        )));
    }
    let seen = |keys: &KeyStore| -> Result<bool> {
        Ok(keys
            .get(responder)?
            .is_some_and(|r| r.exchanges.seen.contains(&offer.nonce)))
    };
    if seen(&keys)? {
        return Err(refused(format!(
            "this offer (nonce {}) was accepted before: a replay",
            offer.nonce
        )));
    }
    let (unlocked, me) = signer(store, responder, password, "exchange accept")?;
    // Version 0: the offer came from another store, which cannot know it.
    if offer.recipient.key_version != 0 && me.key_version != offer.recipient.key_version {
        return Err(refused(format!(
            "the offer names version {} of {responder}'s keys, but the primary is now version {}: ask for a new offer",
            offer.recipient.key_version, me.key_version
        )));
    }
    let ephemeral = EphemeralKey::generate(offer.group)?;
    let shared = ephemeral.agree(&offer.public)?;
    let mut answer = Message {
        protocol: PROTOCOL.to_owned(),
        kind: Kind::Answer,
        group: offer.group,
        sender: me.clone(),
        recipient: offer.sender.clone(),
        public: ephemeral.public_bytes(),
        nonce: new_nonce()?,
        created: time::format(time::now()),
        offer_nonce: Some(offer.nonce.clone()),
        certificate: own_certificate(&unlocked),
        signature: Vec::new(),
    };
    let (private_key, _) = unlocked.key_pair.as_ref().expect("checked by signer");
    answer.signature = sign_public_key(private_key, &answer.signed_bytes(Some(&offer.public)))?;
    let transcript = Transcript {
        group: offer.group,
        initiator: offer.sender.clone(),
        responder: me.clone(),
        initiator_public: offer.public.clone(),
        responder_public: answer.public.clone(),
        params_hash: None,
    };
    let key = transcript.session_key(&shared);
    store.update(|keys, _, _| {
        if seen(keys)? {
            return Err(refused(format!(
                "this offer (nonce {}) was accepted before: a replay",
                offer.nonce
            )));
        }
        keys.entry(responder)?
            .exchanges
            .seen
            .push(offer.nonce.clone());
        Ok(())
    })?;
    Ok((
        answer,
        Agreed {
            group: offer.group,
            initiator: offer.sender.clone(),
            responder: me,
            session_key_fingerprint: sha256_hex(key.as_bytes()),
        },
    ))
}

/// `exchange finish`: `initiator` checks `answer` against the offer it
/// answers, derives the session key and forgets the private value.
///
/// # Errors
/// [`OpsError::ExchangeRefused`] saying which check failed (addressed to
/// someone else, no pending offer with that nonce, an answer from someone
/// the offer did not go to, a group mismatch, an edited or foreign
/// signature); [`KeyError::RevokedSigner`] for a revoked signer;
/// [`CryptoError::InvalidPublicKey`](crate::CryptoError::InvalidPublicKey); [`KeyError::Unlock`].
pub fn finish(
    store: &Store,
    initiator: &UserId,
    password: &Password,
    answer: &Message,
) -> Result<Agreed> {
    if answer.kind != Kind::Answer {
        return Err(refused(
            "it is an offer, not an answer: give it to `exchange accept`".to_owned(),
        ));
    }
    if answer.recipient.user != initiator.as_str() {
        return Err(refused(format!(
            "this answer is addressed to {}, not to {initiator}",
            answer.recipient.user
        )));
    }
    let (keys, revoked) = sender_checked(store, answer)?;
    let nonce = answer
        .offer_nonce
        .as_deref()
        .ok_or_else(|| refused("the answer names no offer".to_owned()))?;
    let pending = keys
        .get(initiator)?
        .and_then(|r| r.exchanges.pending.iter().find(|p| p.nonce == nonce))
        .cloned()
        .ok_or_else(|| {
            refused(format!(
                "{initiator} has no offer waiting with nonce {nonce}: the answer was replayed, or answers another offer"
            ))
        })?;
    if answer.sender.user != pending.recipient {
        return Err(refused(format!(
            "the answer comes from {}, but the offer went to {}",
            answer.sender.user, pending.recipient
        )));
    }
    if answer.group != pending.group {
        return Err(refused(format!(
            "group mismatch: the offer was in {}, the answer is in {}",
            pending.group, answer.group
        )));
    }
    let now = time::now();
    let answered = check_fresh(answer, now)?;
    if answered + (CLOCK_SKEW_SECS as f64) < pending.created {
        return Err(refused(format!(
            "the answer says it was made at {}, before the offer it answers ({})",
            time::format(answered),
            time::format(pending.created)
        )));
    }
    if now - pending.created > 2.0 * MAX_AGE_SECS as f64 {
        return Err(refused(format!(
            "the offer it answers was made at {}, more than {} minutes ago: it is stale; make a new offer",
            time::format(pending.created),
            2 * MAX_AGE_SECS / 60
        )));
    }
    let (unlocked, me) = signer(store, initiator, password, "exchange finish")?;
    if me.key_version != answer.recipient.key_version {
        return Err(refused(format!(
            "the answer names version {} of {initiator}'s keys, but the primary is now version {}",
            answer.recipient.key_version, me.key_version
        )));
    }
    let pk = if unlocked.password_key.params() == &pending.secret.kdf {
        None
    } else {
        Some(PasswordKey::derive(password, &pending.secret.kdf))
    };
    let pk = pk.as_ref().unwrap_or(&unlocked.password_key);
    let secret = pending
        .secret
        .unwrap_with(
            pk,
            SECRET_PURPOSE,
            &secret_aad(
                initiator.as_str(),
                &pending.nonce,
                pending.group,
                &pending.recipient,
            ),
        )
        .map_err(|_| Error::Key(KeyError::Unlock(initiator.to_string())))?;
    let ephemeral = EphemeralKey::from_secret_bytes(pending.group, &secret)?;
    let own_public = ephemeral.public_bytes();
    check_signature(store, &keys, &revoked, answer, Some(&own_public))?;
    let shared = ephemeral.agree(&answer.public)?;
    let transcript = Transcript {
        group: pending.group,
        initiator: me.clone(),
        responder: answer.sender.clone(),
        initiator_public: own_public,
        responder_public: answer.public.clone(),
        params_hash: None,
    };
    let key = transcript.session_key(&shared);
    store.update(|keys, _, _| {
        let state = &mut keys.entry(initiator)?.exchanges;
        let before = state.pending.len();
        state.pending.retain(|p| p.nonce != pending.nonce);
        if state.pending.len() == before {
            return Err(refused(format!(
                "{initiator} has no offer waiting with nonce {}: finished by another run",
                pending.nonce
            )));
        }
        state.seen.push(answer.nonce.clone());
        Ok(())
    })?;
    Ok(Agreed {
        group: pending.group,
        initiator: me,
        responder: answer.sender.clone(),
        session_key_fingerprint: sha256_hex(key.as_bytes()),
    })
}

#[cfg(test)]
mod tests;
