//! Secret bytes, of a fixed or a run-time size: zeroized on drop, compared
//! in constant time, and never shown by `Debug`.

use subtle::ConstantTimeEq;
use zeroize::{ZeroizeOnDrop, Zeroizing};

/// `N` secret bytes, such as a Diffie-Hellman shared secret or a key derived
/// from one.
///
/// ```
/// use secure_kms::util::secret::Secret;
///
/// let a = Secret::new([7u8; 32]);
/// assert_eq!(a, Secret::new([7u8; 32]));
/// assert_eq!(format!("{a:?}"), "Secret<32>(..)");
/// ```
#[derive(Clone, ZeroizeOnDrop)]
pub struct Secret<const N: usize>(Zeroizing<[u8; N]>);

impl<const N: usize> Secret<N> {
    /// Takes ownership of `bytes`.
    pub fn new(bytes: [u8; N]) -> Self {
        Secret(Zeroizing::new(bytes))
    }

    /// All zeros, to be filled in place with [`Secret::as_mut_bytes`], so
    /// that no copy of the secret is left on the stack.
    pub(crate) fn zeroed() -> Self {
        Secret(Zeroizing::new([0u8; N]))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; N] {
        &self.0
    }

    /// The bytes, to fill in place.
    pub(crate) fn as_mut_bytes(&mut self) -> &mut [u8; N] {
        &mut self.0
    }
}

impl<const N: usize> PartialEq for Secret<N> {
    /// Compares in constant time.
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(other.0.as_ref()).into()
    }
}

impl<const N: usize> Eq for Secret<N> {}

impl<const N: usize> std::fmt::Debug for Secret<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret<{N}>(..)")
    }
}

/// Secret bytes whose length is known only at run time, such as a
/// Diffie-Hellman shared secret in a group loaded from a file.
///
/// ```
/// use secure_kms::util::secret::SecretBytes;
///
/// let a = SecretBytes::new(vec![7u8; 256]);
/// assert_eq!(a, SecretBytes::new(vec![7u8; 256]));
/// assert_ne!(a, SecretBytes::new(vec![7u8; 255]));
/// assert_eq!(format!("{a:?}"), "SecretBytes(256 bytes, ..)");
/// ```
#[derive(Clone, ZeroizeOnDrop)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(Zeroizing::new(bytes))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl PartialEq for SecretBytes {
    /// Compares in constant time (the lengths are public).
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && bool::from(self.0.ct_eq(&other.0))
    }
}

impl Eq for SecretBytes {}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes({} bytes, ..)", self.0.len())
    }
}

/// Keeps the keys this process unlocks out of core dumps, for the whole
/// run: the core file size limit goes to 0 (`RLIMIT_CORE`, soft and hard,
/// so the process cannot raise it again), and on Linux the process is made
/// non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`), which also stops another
/// process of the same user from attaching a debugger (ptrace) to read its
/// memory, and makes its `/proc/PID` files root's. The binary calls it
/// first thing, before any password is read.
///
/// ```
/// secure_kms::util::secret::disable_core_dumps()?;
/// let core = rustix::process::getrlimit(rustix::process::Resource::Core);
/// assert_eq!(core.current, Some(0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// The operating system's, if it refuses either call.
pub fn disable_core_dumps() -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )?;
    #[cfg(target_os = "linux")]
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn core_dumps_are_disabled_for_good() {
        use rustix::process::{Resource, getrlimit};
        super::disable_core_dumps().unwrap();
        let core = getrlimit(Resource::Core);
        assert_eq!((core.current, core.maximum), (Some(0), Some(0)));
        #[cfg(target_os = "linux")]
        assert_eq!(
            rustix::process::dumpable_behavior().unwrap(),
            rustix::process::DumpableBehavior::NotDumpable
        );
    }
}
