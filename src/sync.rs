//! The only door to locks and atomics in racehound.
//!
//! Everything that shares state between tasks or threads takes its `Mutex`, `Arc` and atomics
//! from here, so that the same code runs on `std` normally and on loom's model-checked
//! primitives under `--cfg racehound_loom`, which `build.rs` sets for the `loom-models` feature
//! (the tokio pattern). The rest
//! of the crate never names `std::sync` directly.
//!
//! The mutex is poison-free by design: `lock()` returns the guard, and a poisoned std mutex is
//! recovered (the simulation's panics are reported by the harness, not by lock poisoning).

#[cfg(not(racehound_loom))]
mod imp {
    pub use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    pub use std::sync::Arc;

    /// A mutual-exclusion lock that never reports poisoning.
    #[derive(Debug, Default)]
    pub struct Mutex<T>(std::sync::Mutex<T>);

    /// The guard returned by [`Mutex::lock`].
    pub type MutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        /// Wraps a value in a new lock.
        pub fn new(value: T) -> Self {
            Self(std::sync::Mutex::new(value))
        }

        /// Locks, recovering the data if a previous holder panicked.
        pub fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
        }

        /// Consumes the lock and returns the data.
        pub fn into_inner(self) -> T {
            self.0
                .into_inner()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }
    }
}

#[cfg(racehound_loom)]
mod imp {
    pub use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    pub use loom::sync::Arc;

    /// A mutual-exclusion lock that never reports poisoning (loom's, under `racehound_loom`).
    #[derive(Debug, Default)]
    pub struct Mutex<T>(loom::sync::Mutex<T>);

    /// The guard returned by [`Mutex::lock`].
    pub type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        /// Wraps a value in a new lock.
        pub fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }

        /// Locks, recovering the data if a previous holder panicked.
        pub fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
        }

        /// Consumes the lock and returns the data.
        pub fn into_inner(self) -> T {
            self.0
                .into_inner()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }
    }
}

pub use imp::*;

/// `Arc<dyn Trait>` from a value: `arc_dyn!(value => dyn Trait)`.
///
/// loom's `Arc` cannot coerce to an unsized type (that needs the unstable `CoerceUnsized`), so
/// under `racehound_loom` the value is put in a `std` `Arc`, coerced there, and handed to loom
/// with `Arc::from_std` (loom's documented way); otherwise this is a plain coercion.
#[macro_export]
#[doc(hidden)]
macro_rules! arc_dyn {
    ($value:expr => $ty:ty) => {{
        #[cfg(racehound_loom)]
        let arc: $crate::sync::Arc<$ty> =
            $crate::sync::Arc::from_std(std::sync::Arc::new($value) as std::sync::Arc<$ty>);
        #[cfg(not(racehound_loom))]
        let arc: $crate::sync::Arc<$ty> = $crate::sync::Arc::new($value) as $crate::sync::Arc<$ty>;
        arc
    }};
}
