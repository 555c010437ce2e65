//! irnn-train: placeholder
