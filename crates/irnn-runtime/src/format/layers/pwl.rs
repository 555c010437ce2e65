//! PWL tables: knots, values, slopes, shifts.

use crate::pwl::PwlTable;

use crate::format::codec::{invalid, Reader, Writer};
use crate::format::FormatError;

impl Writer {
    pub(in crate::format) fn pwl(&mut self, t: &PwlTable) {
        let n = t.knots().len() as u32;
        self.tensor_i32(&[n], t.knots());
        self.tensor_i32(&[n], t.values());
        self.tensor_i32(&[n - 1], t.slopes());
        self.tensor_i32(&[n - 1], t.shifts());
    }
}

impl Reader<'_> {
    pub(in crate::format) fn pwl(&mut self, what: &str) -> Result<PwlTable, FormatError> {
        let knots = self.i32s(what, &[0])?;
        let n = knots.len() as u32;
        if !(2..=crate::pwl::MAX_KNOTS as u32).contains(&n) {
            return Err(invalid(alloc::format!(
                "{what}: a PWL table needs 2 to {} knots, found {n}",
                crate::pwl::MAX_KNOTS
            )));
        }
        let values = self.i32s(what, &[n])?;
        let slopes = self.i32s(what, &[n - 1])?;
        let shifts = self.i32s(what, &[n - 1])?;
        Ok(PwlTable::new(knots, values, slopes, shifts)?)
    }
}
