//! Between two stores: the certificate a message carries for its sender,
//! and how a store that does not hold the sender checks it.

use crate::Result;
use crate::keys::unlock::UnlockedUser;
use crate::ops::protocol::{Message, refused};
use crate::pki::verify_signature;
use crate::store::Store;
use crate::util::time;
use crate::util::user::UserId;

/// The certificate of `unlocked`'s pair, to send with a message.
pub(super) fn own_certificate(unlocked: &UnlockedUser) -> Option<String> {
    unlocked
        .record
        .asymmetric
        .iter()
        .find(|a| a.version == unlocked.version)
        .and_then(|a| a.certificate.clone())
}

/// Checks a message from a sender this store does not hold, as a TLS
/// client checks a server: the certificate it carries must chain to a root
/// this store trusts, be valid now, name the sender, be fit to sign, and
/// not be on the imported CRL of its root; then the message's signature
/// must verify with its key. Refusals name the reason as rustls does
/// (UnknownIssuer, Expired, NotValidYet, NotValidForName, InvalidPurpose,
/// Revoked, BadSignature).
pub(super) fn check_by_certificate(
    store: &Store,
    sender: &UserId,
    message: &Message,
    initiator_public: Option<&[u8]>,
) -> Result<()> {
    use x509_cert::der::{DecodePem, Encode};
    let what = message.kind.name();
    use crate::ca::import::{Refusal, refused as refused_as};
    let pem = message.certificate.as_deref().ok_or_else(|| {
        refused(format!(
            "its sender {sender} is not in this store, and the {what} carries no certificate to check it with (the sender's store needs a certificate from a root this store trusts: `cert request`, `cert import`)"
        ))
    })?;
    let certificate = x509_cert::Certificate::from_pem(pem.as_bytes())
        .map_err(|e| refused(format!("its certificate is not a PEM certificate ({e})")))?;
    let roots = crate::ca::anchors::roots(store)?;
    let root = crate::ca::import::check_chain(&roots, &certificate, sender, time::now())?;
    let crls = crate::ca::crl::imported::stored(store)?;
    if let Some((at, reason)) = crate::ca::import::revocation(store, &crls, root, &certificate)? {
        return Err(refused_as(
            Refusal::Revoked,
            format!(
                "its root revoked it at {} (reason: {reason}), as the CRL this store holds says",
                time::format(at)
            ),
        ));
    }
    let spki = certificate
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(crate::crypto::x509::x509_error)?;
    let key = {
        use rsa::pkcs8::DecodePublicKey;
        rsa::PublicKey::from_public_key_der(&spki).map_err(|_| {
            refused_as(
                Refusal::InvalidPurpose,
                "its key is not an RSA key, which secure-kms signs with".to_owned(),
            )
        })?
    };
    verify_signature(&key, &message.signed_bytes(initiator_public), &message.signature).map_err(
        |_| {
            refused_as(
                Refusal::BadSignature,
                format!(
                    "the {what}'s signature does not verify with the key of {sender}'s certificate: it was edited, or signed by someone else"
                ),
            )
        },
    )
}
