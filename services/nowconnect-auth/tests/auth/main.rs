//! Crate tests with real keys and real signatures. One test binary, so the (slow in debug)
//! RSA keys are generated once and shared. The modules are `cfg(test)` so that helpers outside
//! `#[test]` functions fall under clippy's allow-unwrap-in-tests too.

#[cfg(test)]
mod algs;
#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod keys;
#[cfg(test)]
mod refresh;
#[cfg(test)]
mod source;
#[cfg(test)]
mod verify;
