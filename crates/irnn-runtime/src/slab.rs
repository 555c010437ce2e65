//! Where a model's arrays live: on the heap, or in place in the bytes of a
//! model file that outlives the program (flash on a microcontroller, a
//! `static` array, a memory map).
//!
//! A [`Slab`] reads as a slice either way, so the layers and kernels never
//! know which it is. A model read with
//! [`read_model_in_place`](crate::format::read_model_in_place) from a file
//! in the in-place layout borrows every weight, bias, multiplier and table
//! from the file, and its RAM after loading is the few structs that point
//! into it.

use alloc::vec::Vec;
use core::ops::Deref;

/// An array owned on the heap or borrowed from `'static` bytes.
#[derive(Clone)]
pub enum Slab<T: 'static> {
    /// Owned, on the heap.
    Owned(Vec<T>),
    /// Borrowed from bytes that live as long as the program.
    Borrowed(&'static [T]),
}

impl<T> Slab<T> {
    /// Whether the elements are borrowed (not on the heap).
    pub fn is_borrowed(&self) -> bool {
        matches!(self, Slab::Borrowed(_))
    }

    /// Bytes this array holds on the heap (0 when borrowed).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Slab::Owned(v) => v.len() * core::mem::size_of::<T>(),
            Slab::Borrowed(_) => 0,
        }
    }
}

impl<T> Deref for Slab<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            Slab::Owned(v) => v,
            Slab::Borrowed(s) => s,
        }
    }
}

impl<'a, T> IntoIterator for &'a Slab<T> {
    type Item = &'a T;
    type IntoIter = core::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T> FromIterator<T> for Slab<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Slab::Owned(iter.into_iter().collect())
    }
}

impl<T> From<Vec<T>> for Slab<T> {
    fn from(v: Vec<T>) -> Self {
        Slab::Owned(v)
    }
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab::Borrowed(&[])
    }
}

impl<T: PartialEq> PartialEq for Slab<T> {
    /// Equal elements, wherever they live.
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Eq> Eq for Slab<T> {}

impl<T: core::fmt::Debug> core::fmt::Debug for Slab<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let place = if self.is_borrowed() {
            "borrowed"
        } else {
            "owned"
        };
        write!(f, "{place} ")?;
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static ROWS: [i32; 3] = [1, 2, 3];

    #[test]
    fn owned_and_borrowed_read_and_compare_alike() {
        let owned: Slab<i32> = alloc::vec![1, 2, 3].into();
        let borrowed = Slab::Borrowed(&ROWS[..]);
        assert_eq!(owned, borrowed);
        assert_eq!(owned[1], 2);
        assert_eq!(borrowed.iter().sum::<i32>(), 6);
        assert_eq!((owned.heap_bytes(), borrowed.heap_bytes()), (12, 0));
        assert!(borrowed.is_borrowed() && !owned.is_borrowed());
        assert_ne!(owned, Slab::Borrowed(&ROWS[..2]));
    }
}
