//! Each layer's codec, writing and reading side by side in one file, as
//! methods on the payload [`Writer`](super::codec::Writer) and
//! [`Reader`](super::codec::Reader). The bytes are those of docs/FORMAT.md.

mod attention;
mod conv;
mod embedding;
mod gru;
mod lstm;
mod matrix;
mod norm;
mod output;
mod pwl;
