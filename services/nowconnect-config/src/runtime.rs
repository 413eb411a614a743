//! `runtime.worker_threads`, the one key both services share: how many tokio worker threads the
//! process runs (0 = one per CPU).

use std::num::NonZeroUsize;
use std::ops::RangeInclusive;

use crate::{ConfigError, Env, int};

/// YAML key of the setting, in both services.
pub const WORKER_THREADS_KEY: &str = "runtime.worker_threads";

/// `var` over the YAML value over `default`, checked against `range`; `None` = one per CPU (0).
pub fn worker_threads(
    env: &Env<'_>,
    var: &str,
    yaml: Option<usize>,
    default: usize,
    range: RangeInclusive<usize>,
) -> Result<Option<NonZeroUsize>, ConfigError> {
    let (min, max) = range.into_inner();
    let n = env
        .layer_or(var, int, WORKER_THREADS_KEY, yaml, default)?
        .in_range(min, max)?;
    Ok(NonZeroUsize::new(n))
}
