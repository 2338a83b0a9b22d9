//! PEM text as the store keeps it (public keys, certificates, the CA's
//! files): nothing may stand outside the armor, and nothing but printable
//! ASCII inside it, so that no stored PEM can carry a terminal escape to
//! whoever prints it.

/// Checks that `text` is PEM and nothing else: it starts with its
/// `-----BEGIN` line and holds only printable ASCII, spaces and line
/// breaks. The PEM decoders skip text before the armor (RFC 7468 allows
/// "explanatory text"), but a stored key or certificate is printed as it
/// is stored (`export --public`, `cert export`, `ca show`), so text there
/// could carry terminal escapes: it is refused when the file is read.
///
/// ```
/// let (_, public) = secure_kms::pki::generate_asymmetric_keys()?;
/// let pem = secure_kms::crypto::spki::public_key_pem(&public)?;
/// assert!(secure_kms::util::armor::check_armor(&pem).is_ok());
/// assert!(secure_kms::util::armor::check_armor(&format!("\u{1b}]0;x\u{7}{pem}")).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// What is wrong, as a phrase.
pub fn check_armor(text: &str) -> std::result::Result<(), String> {
    if !text.starts_with("-----BEGIN ") {
        return Err("text stands before its -----BEGIN line".to_owned());
    }
    if let Some(c) = text
        .chars()
        .find(|&c| !(c.is_ascii_graphic() || matches!(c, ' ' | '\n' | '\r')))
    {
        return Err(format!(
            "it holds {}, which PEM never does",
            crate::util::escape::printable(&c.to_string())
        ));
    }
    Ok(())
}
