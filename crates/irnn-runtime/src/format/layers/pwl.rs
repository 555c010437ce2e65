//! PWL tables: knots, values, slopes, shifts.

use crate::pwl::PwlTable;

use crate::format::codec::{invalid, Reader, Writer};
use crate::format::{FormatError, Layout};

impl Writer {
    pub(in crate::format) fn pwl(&mut self, t: &PwlTable) {
        let n = t.knots().len() as u32;
        self.tensor_i32(&[n], t.knots());
        self.tensor_i32(&[n], t.values());
        self.tensor_i32(&[n - 1], t.slopes());
        self.tensor_i32(&[n - 1], t.shifts());
        if self.layout == Layout::InPlace {
            for table in t.padded() {
                self.tensor_i32(&[table.len() as u32], table);
            }
        }
    }
}

impl Reader<'_> {
    pub(in crate::format) fn pwl(&mut self, what: &str) -> Result<PwlTable, FormatError> {
        let knots = self.i32_slab(what, &[0])?;
        let n = knots.len() as u32;
        if !(2..=crate::pwl::MAX_KNOTS as u32).contains(&n) {
            return Err(invalid(alloc::format!(
                "{what}: a PWL table needs 2 to {} knots, found {n}",
                crate::pwl::MAX_KNOTS
            )));
        }
        if self.is_in_place_layout() {
            let values = self.i32_slab(what, &[n])?;
            let slopes = self.i32_slab(what, &[n - 1])?;
            let shifts = self.i32_slab(what, &[n - 1])?;
            let p = (n - 1).next_power_of_two();
            let padded = [
                self.i32_slab(what, &[p])?,
                self.i32_slab(what, &[p])?,
                self.i32_slab(what, &[p])?,
                self.i32_slab(what, &[p])?,
            ];
            return Ok(PwlTable::from_parts(knots, values, slopes, shifts, padded)?);
        }
        let values = self.i32s(what, &[n])?;
        let slopes = self.i32s(what, &[n - 1])?;
        let shifts = self.i32s(what, &[n - 1])?;
        Ok(PwlTable::new(knots.to_vec(), values, slopes, shifts)?)
    }
}
