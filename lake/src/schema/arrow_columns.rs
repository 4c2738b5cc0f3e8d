//! Arrow columns built from borrowed strings, for tables whose rows are parsed straight
//! into columns (`pg_log`, see [`super::pg_columns`]):
//!
//! - [`DictColumn`]: a string column of few distinct values, built as a dictionary
//!   (keys into the values in order of first appearance) that the Parquet writer
//!   receives ready-made;
//! - [`ViewColumn`]: a string column of views into the piece of input being parsed
//!   (shared, not copied), values that are not slices of it copied into buffers of its
//!   own;
//! - [`ArrowFrame`]: a row group of such arrays, and the plain columns.

use polars::prelude::*;
use polars_arrow::array::{
    Array, DictionaryArray, MutableBinaryViewArray, PrimitiveArray, Utf8ViewArray, View,
};
use polars_arrow::bitmap::MutableBitmap;
use polars_arrow::datatypes::IntegerType;
use polars_buffer::Buffer;

/// A table's columns of one row group as Arrow arrays: every column but the provenance
/// numbers (`head`, in schema order, some of them dictionary arrays of the column's
/// declared string type) and the numbers as a frame.
pub struct ArrowFrame {
    /// The table's schema (string columns are `String`, whatever their arrays).
    pub schema: Schema,
    /// The declared fields of `head`'s columns.
    pub fields: Vec<ArrowField>,
    pub head: Vec<Box<dyn Array>>,
    /// `input_line` and `input_record`.
    pub numbers: DataFrame,
}

impl ArrowFrame {
    /// The rows as one DataFrame of the table's schema (dictionaries expanded).
    pub fn to_df(&self) -> PolarsResult<DataFrame> {
        let mut columns = Vec::with_capacity(self.schema.len());
        for (field, array) in self.fields.iter().zip(&self.head) {
            let array = match array.as_any().downcast_ref::<DictionaryArray<u32>>() {
                Some(dict) => expand(dict),
                None => array.clone(),
            };
            let s = Series::from_arrow(field.name.clone(), array)?;
            let dtype = self
                .schema
                .get(field.name.as_str())
                .cloned()
                .unwrap_or(DataType::Null);
            columns.push(s.cast(&dtype)?.into_column());
        }
        columns.extend(self.numbers.columns().iter().cloned());
        DataFrame::new(self.numbers.height(), columns)
    }
}

/// A dictionary's values per row.
fn expand(dict: &DictionaryArray<u32>) -> Box<dyn Array> {
    let values = dict
        .values()
        .as_any()
        .downcast_ref::<polars_arrow::array::Utf8ViewArray>()
        .expect("string dictionary");
    let mut out = MutableBinaryViewArray::<str>::with_capacity(dict.len());
    for k in dict.keys().iter() {
        out.push(k.map(|k| values.value(*k as usize)));
    }
    out.freeze().boxed()
}

/// A column's values and validity with rows in `order` (as they are when `None`); the
/// validity only when the column has `nulls`.
fn in_order<T: Copy>(
    values: Vec<T>,
    validity: MutableBitmap,
    nulls: usize,
    order: Option<&[IdxSize]>,
) -> (Vec<T>, Option<polars_arrow::bitmap::Bitmap>) {
    let (values, validity) = match order {
        None => (values, validity),
        Some(order) => {
            let mut ordered = MutableBitmap::with_capacity(order.len());
            for &i in order {
                ordered.push(validity.get(i as usize));
            }
            (order.iter().map(|&i| values[i as usize]).collect(), ordered)
        }
    };
    (values, (nulls > 0).then(|| validity.freeze()))
}

/// A string dictionary array: `keys` index `values`, a `Utf8ViewArray`.
fn dictionary(keys: PrimitiveArray<u32>, values: Box<dyn Array>) -> DictionaryArray<u32> {
    let dtype = ArrowDataType::Dictionary(
        IntegerType::UInt32,
        Box::new(ArrowDataType::Utf8View),
        false,
    );
    DictionaryArray::<u32>::try_new(dtype, keys, values).expect("keys index the values")
}

/// Whether `n` rows of `distinct` values are written as a dictionary: polars' writer's
/// rule (at most 75 % distinct, or at most 128 rows), with the exact count where it
/// estimates.
fn worth_a_dictionary(distinct: usize, n: usize) -> bool {
    n <= 128 || distinct as f64 / n as f64 <= 0.75
}

/// A dictionary value as a hash-map key hashed cheaply: by its length and first and
/// last 16 bytes (the values of a dictionary column are few; equality still compares
/// them whole).
#[derive(PartialEq, Eq)]
#[repr(transparent)]
struct Value(str);

impl std::hash::Hash for Value {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let b = self.0.as_bytes();
        state.write_usize(b.len());
        state.write(&b[..b.len().min(16)]);
        state.write(&b[b.len().saturating_sub(16)..]);
    }
}

impl Value {
    fn of(s: &str) -> &Value {
        // SAFETY: `Value` is a transparent wrapper of `str`.
        unsafe { &*(s as *const str as *const Value) }
    }
}

/// An owned [`Value`].
#[derive(PartialEq, Eq)]
struct OwnedValue(Box<str>);

impl std::hash::Hash for OwnedValue {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Value::of(&self.0).hash(state)
    }
}

impl std::borrow::Borrow<Value> for OwnedValue {
    fn borrow(&self) -> &Value {
        Value::of(&self.0)
    }
}

/// A string column built as a dictionary.
pub(super) struct DictColumn {
    keys: Vec<u32>,
    validity: MutableBitmap,
    nulls: usize,
    index: PlHashMap<OwnedValue, u32>,
    /// The distinct values, by key.
    distinct: Vec<Box<str>>,
    /// The key of the last value pushed (rows often repeat their predecessor's).
    last: Option<u32>,
    /// (address, length, key) of the first values pushed by [`DictColumn::push_stable`].
    stable: Vec<(usize, usize, u32)>,
    values: MutableBinaryViewArray<str>,
}

impl DictColumn {
    pub(super) fn with_capacity(n: usize) -> Self {
        DictColumn {
            keys: Vec::with_capacity(n),
            validity: MutableBitmap::with_capacity(n),
            nulls: 0,
            index: PlHashMap::default(),
            distinct: Vec::new(),
            last: None,
            stable: Vec::new(),
            values: MutableBinaryViewArray::new(),
        }
    }

    /// Values remembered by address at most.
    pub(super) const STABLE: usize = 16;

    /// Up to this many distinct values, a value is looked up by comparing it with each.
    const SCANNED: usize = 8;

    /// [`DictColumn::push`] of a value whose address and contents stay as they are as
    /// long as the column lives (a static string, or one the caller keeps alive), so
    /// that its address identifies it. True when the value's address was remembered
    /// now (the caller must then keep it alive).
    #[inline]
    pub(super) fn push_stable(&mut self, value: Option<&str>) -> bool {
        let Some(v) = value else {
            self.push(None);
            return false;
        };
        let id = (v.as_ptr() as usize, v.len());
        if let Some(&(_, _, k)) = self.stable.iter().find(|(a, l, _)| (*a, *l) == id) {
            self.write_leading_nulls();
            self.keys.push(k);
            self.validity.push(true);
            self.last = Some(k);
            return false;
        }
        self.push(Some(v));
        if self.stable.len() < Self::STABLE {
            self.stable
                .push((id.0, id.1, self.last.unwrap_or_default()));
            return true;
        }
        false
    }

    /// Writes the nulls counted before the first value (see [`DictColumn::push`]).
    #[inline]
    fn write_leading_nulls(&mut self) {
        if self.keys.is_empty() && self.nulls > 0 {
            self.keys.resize(self.nulls, 0);
            self.validity.extend_constant(self.nulls, false);
        }
    }

    /// Appends a value. Nulls before the first value are only counted: many columns of a
    /// log are null in every row (a prefix without `%a`, `%h`, …).
    #[inline]
    pub(super) fn push(&mut self, value: Option<&str>) {
        match value {
            Some(v) => {
                self.write_leading_nulls();
                let key = match self.last {
                    Some(k) if *self.distinct[k as usize] == *v => k,
                    // A few values are found sooner by comparing them than by hashing.
                    _ => match if self.distinct.len() <= Self::SCANNED {
                        self.distinct
                            .iter()
                            .position(|d| **d == *v)
                            .map(|k| k as u32)
                    } else {
                        self.index.get(Value::of(v)).copied()
                    } {
                        Some(k) => k,
                        None => {
                            let k = self.distinct.len() as u32;
                            self.values.push_value(v);
                            self.distinct.push(v.into());
                            self.index.insert(OwnedValue(v.into()), k);
                            k
                        }
                    },
                };
                self.last = Some(key);
                self.keys.push(key);
                self.validity.push(true);
            }
            None => {
                self.nulls += 1;
                if !self.keys.is_empty() {
                    self.keys.push(0);
                    self.validity.push(false);
                }
            }
        }
    }

    /// The column, rows in `order` (all rows in push order when `None`): a dictionary
    /// array, or plain strings when most values are distinct (as polars decides).
    pub(super) fn finish(self, order: Option<&[IdxSize]>) -> Box<dyn Array> {
        if self.keys.is_empty() {
            // No value (nulls only counted): every row is null, in any order; written
            // without a dictionary (see `encode_arrays`).
            return Utf8ViewArray::new_null(ArrowDataType::Utf8View, self.nulls).boxed();
        }
        let (keys, validity) = in_order(self.keys, self.validity, self.nulls, order);
        let keys = PrimitiveArray::<u32>::new(ArrowDataType::UInt32, keys.into(), validity);
        let n = keys.len();
        let dict = dictionary(keys, self.values.freeze().boxed());
        if worth_a_dictionary(dict.values().len(), n) {
            dict.boxed()
        } else {
            expand(&dict)
        }
    }
}

/// A string column whose values point into the input where they come from it.
///
/// Arrow's string views name a buffer and an offset: a value that is a slice of the
/// piece of input being parsed (the [`PgDayColumns::set_input`] buffer, shared, not
/// copied) is stored as a view into it, so the text of messages and statements is not
/// copied into the columns; other values (lines joined, replaced invalid UTF-8) are
/// copied into buffers of the column's own. Values of up to 12 bytes live in the view.
pub(super) struct ViewColumn {
    views: Vec<View>,
    validity: MutableBitmap,
    nulls: usize,
    bytes: usize,
    /// Full buffers of copied values (buffers 1 …), and the one being filled.
    copied: Vec<Buffer<u8>>,
    filling: Vec<u8>,
    /// The column's distinct values, when it is built as a possible dictionary.
    distinct: Option<Box<Distinct>>,
}

/// A [`ViewColumn`]'s distinct values as they are pushed: each row's key, and the
/// values by their 64-bit hash. Two values of one hash make the column plain (then
/// nothing is lost but the dictionary).
struct Distinct {
    keys: Vec<u32>,
    by_hash: std::collections::HashMap<u64, u32, std::hash::BuildHasherDefault<HashIsKey>>,
    values: Vec<View>,
    state: PlRandomState,
    hash: fn(&PlRandomState, &[u8]) -> u64,
    collided: bool,
}

/// A hasher for keys that are hashes already.
#[derive(Default)]
struct HashIsKey(u64);

impl std::hash::Hasher for HashIsKey {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys")
    }
    fn write_u64(&mut self, h: u64) {
        self.0 = h;
    }
}

impl ViewColumn {
    pub(super) fn with_capacity(n: usize) -> Self {
        ViewColumn {
            views: Vec::with_capacity(n),
            validity: MutableBitmap::with_capacity(n),
            nulls: 0,
            bytes: 0,
            copied: Vec::new(),
            filling: Vec::new(),
            distinct: None,
        }
    }

    /// A column that [`ViewColumn::finish`] makes a dictionary when at most 75 % of its
    /// values are distinct (as polars' writer would, after hashing every value twice
    /// and copying the distinct ones), plain otherwise. For text with many distinct
    /// values (statements), where [`DictColumn`] — made for a few short values — would
    /// copy each one and hash only its ends.
    pub(super) fn dictionary(n: usize) -> Self {
        ViewColumn {
            distinct: Some(Box::new(Distinct {
                keys: Vec::with_capacity(n),
                by_hash: Default::default(),
                values: Vec::new(),
                state: PlRandomState::default(),
                hash: |state, b| std::hash::BuildHasher::hash_one(state, b),
                collided: false,
            })),
            ..ViewColumn::with_capacity(n)
        }
    }

    /// The bytes of `view`, a view of this column's (`input` is buffer 0).
    fn bytes_of<'a>(&'a self, view: &'a View, input: &'a [u8]) -> &'a [u8] {
        if view.length <= View::MAX_INLINE_SIZE {
            // SAFETY: an inline view holds its bytes after its length.
            return unsafe { view.get_inlined_slice_unchecked() };
        }
        let buffer: &[u8] = match view.buffer_idx as usize {
            0 => input,
            i if i <= self.copied.len() => &self.copied[i - 1],
            _ => &self.filling,
        };
        let start = view.offset as usize;
        &buffer[start..start + view.length as usize]
    }

    /// Records the key of the value just pushed as `view`.
    #[inline]
    fn key(&mut self, b: &[u8], view: View, input: &[u8]) {
        let Some(mut d) = self.distinct.take() else {
            return;
        };
        if !d.collided {
            if d.keys.is_empty() && self.views.len() > 1 {
                d.keys.resize(self.views.len() - 1, 0);
            }
            let hash = (d.hash)(&d.state, b);
            let next = d.values.len() as u32;
            let key = *d.by_hash.entry(hash).or_insert(next);
            if key == next {
                d.values.push(view);
            } else if self.bytes_of(&d.values[key as usize], input) != b {
                d.collided = true;
            }
            d.keys.push(key);
        }
        self.distinct = Some(d);
    }

    #[inline]
    pub(super) fn push(&mut self, value: Option<&str>, input: &[u8]) {
        // Nulls before the first value are only counted (see `DictColumn::push`).
        let Some(v) = value else {
            self.nulls += 1;
            if !self.views.is_empty() {
                self.views.push(View::default());
                self.validity.push(false);
                if let Some(d) = &mut self.distinct {
                    d.keys.push(0);
                }
            }
            return;
        };
        if self.views.is_empty() && self.nulls > 0 {
            self.views.resize(self.nulls, View::default());
            self.validity.extend_constant(self.nulls, false);
        }
        let b = v.as_bytes();
        self.bytes += b.len();
        let view = if b.len() <= View::MAX_INLINE_SIZE as usize {
            View::new_inline(b)
        } else {
            let (start, base) = (b.as_ptr() as usize, input.as_ptr() as usize);
            if start >= base && start - base + b.len() <= input.len() {
                View::new_from_bytes(b, 0, (start - base) as u32)
            } else {
                if self.filling.len() + b.len() > u32::MAX as usize {
                    self.copied.push(std::mem::take(&mut self.filling).into());
                }
                let view = View::new_from_bytes(
                    b,
                    1 + self.copied.len() as u32,
                    self.filling.len() as u32,
                );
                self.filling.extend_from_slice(b);
                view
            }
        };
        self.views.push(view);
        self.validity.push(true);
        if self.distinct.is_some() {
            self.key(b, view, input);
        }
    }

    /// The column, rows in `order` (push order when `None`); `input` is the buffer
    /// the views of buffer 0 point into.
    pub(super) fn finish(self, input: &Buffer<u8>, order: Option<&[IdxSize]>) -> Box<dyn Array> {
        if self.views.is_empty() {
            // No value (nulls only counted): every row is null, in any order.
            return Utf8ViewArray::new_null(ArrowDataType::Utf8View, self.nulls).boxed();
        }
        let mut buffers = Vec::with_capacity(self.copied.len() + 2);
        buffers.push(input.clone());
        buffers.extend(self.copied);
        buffers.push(self.filling.into());
        let buffers: Buffer<Buffer<u8>> = buffers.into();
        let buffer_len = buffers.iter().map(|b| b.len()).sum();
        let n = self.views.len();
        let array = |views: Vec<View>, validity, bytes| {
            // SAFETY: every view was made from a `&str` that is, at its offset, in the
            // buffer it names (the input slice checked by address, or a copy).
            unsafe {
                Utf8ViewArray::new_unchecked(
                    ArrowDataType::Utf8View,
                    views.into(),
                    buffers.clone(),
                    validity,
                    bytes,
                    buffer_len,
                )
            }
        };
        if let Some(d) = self
            .distinct
            .filter(|d| !d.collided && worth_a_dictionary(d.values.len(), n))
        {
            let (keys, validity) = in_order(d.keys, self.validity, self.nulls, order);
            let keys = PrimitiveArray::<u32>::new(ArrowDataType::UInt32, keys.into(), validity);
            return dictionary(keys, array(d.values, None, None).boxed()).boxed();
        }
        let (views, validity) = in_order(self.views, self.validity, self.nulls, order);
        array(views, validity, Some(self.bytes)).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values of a [`ViewColumn`] as strings, whatever the array.
    fn strings(array: &dyn Array) -> Vec<Option<String>> {
        let array = match array.as_any().downcast_ref::<DictionaryArray<u32>>() {
            Some(dict) => expand(dict),
            None => array.to_boxed(),
        };
        let views = array.as_any().downcast_ref::<Utf8ViewArray>().unwrap();
        views.iter().map(|v| v.map(str::to_owned)).collect()
    }

    fn is_dictionary(array: &dyn Array) -> bool {
        array
            .as_any()
            .downcast_ref::<DictionaryArray<u32>>()
            .is_some()
    }

    /// Leading nulls, values from the input and copied, inline and long, repeats, in
    /// push order and sorted.
    #[test]
    fn repeated_text_becomes_a_dictionary_of_the_same_values() {
        let text = "SELECT 1 FROM a_long_table_name; short; SELECT 2 FROM a_long_table_name;";
        let input: Buffer<u8> = text.as_bytes().to_vec().into();
        let slice = |s: &str| {
            let at = text.find(s).unwrap();
            // SAFETY: a slice of the input buffer at the same place.
            unsafe { std::str::from_utf8_unchecked(&input[at..at + s.len()]) }
        };
        let copied = String::from("joined\nfrom two lines of a statement");
        let mut rows: Vec<Option<&str>> = vec![None, None];
        for i in 0..300 {
            rows.push(match i % 5 {
                0 => Some(slice("SELECT 1 FROM a_long_table_name;")),
                1 => Some(slice("short;")),
                2 => None,
                3 => Some(&copied),
                _ => Some(slice("SELECT 2 FROM a_long_table_name;")),
            });
        }
        let expected: Vec<Option<String>> = rows.iter().map(|r| r.map(str::to_owned)).collect();
        let order: Vec<IdxSize> = (0..rows.len() as IdxSize).rev().collect();
        for order in [None, Some(&order[..])] {
            let mut column = ViewColumn::dictionary(rows.len());
            for r in &rows {
                column.push(*r, &input);
            }
            let array = column.finish(&input, order);
            assert!(is_dictionary(&*array));
            let mut want = expected.clone();
            if order.is_some() {
                want.reverse();
            }
            assert_eq!(strings(&*array), want);
            let dict = array
                .as_any()
                .downcast_ref::<DictionaryArray<u32>>()
                .unwrap();
            assert_eq!(dict.values().len(), 4, "four distinct values");
        }
    }

    /// Mostly distinct values, or two values of one hash: plain, the same values.
    #[test]
    fn distinct_or_colliding_text_stays_plain() {
        let input: Buffer<u8> = Vec::new().into();
        let values: Vec<String> = (0..1000).map(|i| format!("statement number {i}")).collect();
        let mut distinct = ViewColumn::dictionary(values.len());
        let mut colliding = ViewColumn::dictionary(values.len());
        if let Some(d) = &mut colliding.distinct {
            d.hash = |_, _| 7;
        }
        for (i, v) in values.iter().enumerate() {
            distinct.push(Some(v), &input);
            colliding.push(Some(&values[i % 10]), &input);
        }
        let distinct = distinct.finish(&input, None);
        assert!(!is_dictionary(&*distinct));
        assert_eq!(
            strings(&*distinct),
            values.iter().cloned().map(Some).collect::<Vec<_>>()
        );
        assert!(colliding.distinct.as_ref().unwrap().collided);
        let colliding = colliding.finish(&input, None);
        assert!(!is_dictionary(&*colliding), "one hash, ten values");
        let want: Vec<Option<String>> = (0..1000).map(|i| Some(values[i % 10].clone())).collect();
        assert_eq!(strings(&*colliding), want);
    }
}
