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

/// The first PEM block labelled `label` in `text`, from its `-----BEGIN`
/// line to the end of its `-----END` line: what a file given on the
/// command line holds, without the text some tools print before it
/// (`openssl ca` writes the certificate's description first).
///
/// ```
/// let text = "Certificate:\n  Data: ...\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
/// let block = secure_kms::util::armor::pem_block(text, "CERTIFICATE").unwrap();
/// assert!(block.starts_with("-----BEGIN CERTIFICATE-----"));
/// assert!(block.ends_with("-----END CERTIFICATE-----\n"));
/// ```
pub fn pem_block<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)?;
    let stop = start + text[start..].find(&end)? + end.len();
    let stop = if text[stop..].starts_with('\n') {
        stop + 1
    } else {
        stop
    };
    Some(&text[start..stop])
}
