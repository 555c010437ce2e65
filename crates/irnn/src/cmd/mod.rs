//! One module per subcommand. Those that take a model file of either task
//! (`qat`, `convert`, `eval`, `inspect`) read it once, decide its kind
//! ([`crate::model_file`]) and hand it to the task's module under [`lm`] or
//! [`asr`]; those modules never import each other.

pub mod asr;
pub mod bench;
pub mod convert;
pub mod demo;
pub mod eval;
pub mod inspect;
pub mod kernels;
pub mod lm;
pub mod pack;
pub mod pwl;
pub mod qat;
