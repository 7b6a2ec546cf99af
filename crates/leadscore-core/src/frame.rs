//! Row order and row selection that avoid copying a table when it is already as asked.

use polars::prelude::*;

/// Whether `df` is ordered by `time`, then `id`, as polars sorts them (nulls first), in one pass.
/// Iterated, not indexed: a table built from many files has a chunk per file, and finding row i's
/// chunk is a walk over them.
pub fn in_time_order(df: &DataFrame, time: &str, id: &str) -> PolarsResult<bool> {
    let (t, ids) = (df.column(time)?.datetime()?.physical(), df.column(id)?.str()?);
    let mut previous = None;
    Ok(t.iter().zip(ids.iter()).all(|key| {
        let ordered = previous.is_none_or(|p| p <= key);
        previous = Some(key);
        ordered
    }))
}

/// `df` ordered by `time`, then `id` (a stable sort); `df` itself, not a sorted copy, when it is
/// in that order already, as a CRM export or a table a stage wrote usually is.
pub fn sorted_by_time(df: DataFrame, time: &str, id: &str) -> PolarsResult<DataFrame> {
    if in_time_order(&df, time, id)? {
        return Ok(df);
    }
    df.sort([time, id], SortMultipleOptions::default().with_maintain_order(true))
}

/// [`sorted_by_time`] in one chunk, for a table of many chunks (parsed in blocks) that the caller
/// gives up: gathered when out of order ([`take_owned`]), otherwise each column put in one chunk,
/// a few columns at a time, each of `df`'s columns dropped once copied: never a copy of the whole
/// table beside it.
pub fn sorted_by_time_owned(df: DataFrame, time: &str, id: &str) -> PolarsResult<DataFrame> {
    if let Some(order) = time_order(&df, time, id)? {
        return take_owned(df, &order);
    }
    let height = df.height();
    let columns: Vec<Column> = df.into_columns().into_iter().map(|c| c.rechunk()).collect();
    DataFrame::new(height, columns)
}

/// The rows of `df` in the order [`sorted_by_time`] puts them in, as row numbers (to order other
/// tables whose rows are those of `df`); `None` when `df` is in that order already.
pub fn time_order(df: &DataFrame, time: &str, id: &str) -> PolarsResult<Option<IdxCa>> {
    if in_time_order(df, time, id)? {
        return Ok(None);
    }
    const ROW: &str = "__row";
    let keys = df.select([time, id])?.with_row_index(ROW.into(), None)?;
    let sorted = keys.sort([time, id], SortMultipleOptions::default().with_maintain_order(true))?;
    Ok(Some(sorted.column(ROW)?.idx()?.clone()))
}

/// The tables stacked in order, as one chunk (parts of one table, written as one).
pub fn stacked(tables: Vec<DataFrame>) -> PolarsResult<DataFrame> {
    let mut tables = tables.into_iter();
    let Some(mut all) = tables.next() else { return Ok(DataFrame::empty()) };
    for t in tables {
        all.vstack_mut_owned(t)?;
    }
    all.rechunk_mut_par();
    Ok(all)
}

/// The rows of a table a stage reads ([`crate::io::read_parquet_rows`]).
#[derive(Debug, Clone)]
pub enum Rows {
    /// `column` (a UTC timestamp column in microseconds, as every stage writes them) at or after
    /// the instant `micros` (microseconds since the epoch). The leading row groups whose
    /// statistics end before it are not read, and of the rest only `column` up to the first row
    /// at or after the instant: a table in time order (leads, labels, conversions) costs about
    /// the rows asked for.
    AtOrAfter {
        /// The column.
        column: String,
        /// The instant, in microseconds since the epoch.
        micros: i64,
    },
    /// Where the predicate holds; every row group is read.
    Where(Expr),
}

impl Rows {
    /// The predicate that selects the rows.
    pub fn predicate(&self) -> Expr {
        match self {
            Rows::AtOrAfter { column, micros } => col(column.as_str())
                .gt_eq(lit(*micros).cast(DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)))),
            Rows::Where(predicate) => predicate.clone(),
        }
    }
}

/// `column` (a UTC timestamp column, as every stage writes them) at or after the instant `micros`
/// (microseconds since the epoch): see [`Rows::AtOrAfter`].
pub fn at_or_after(column: &str, micros: i64) -> Rows {
    Rows::AtOrAfter { column: column.to_string(), micros }
}

/// The rows of `df` where `mask` is true: a slice of `df` (no copy) when they are one run of
/// consecutive rows (every row, say), a filtered copy otherwise.
pub fn rows_where(df: &DataFrame, mask: &BooleanChunked) -> PolarsResult<DataFrame> {
    let (mut first, mut last, mut count) = (None, 0, 0);
    for (i, m) in mask.iter().enumerate() {
        if m == Some(true) {
            first.get_or_insert(i);
            last = i;
            count += 1;
        }
    }
    match first {
        None => Ok(df.clear()),
        Some(first) if last - first + 1 == count => Ok(df.slice(first as i64, count)),
        Some(_) => df.filter(mask),
    }
}

/// The rows `idx` of `df`, in one chunk, gathered a few columns at a time, each of `df`'s columns
/// dropped once it is gathered: a stage that needs only those rows holds a few columns twice, not
/// the whole table (a text column is 16 bytes a cell, so a copy of every column of 1M leads with
/// 50 attributes is 0.8 GB).
pub fn take_owned(df: DataFrame, idx: &IdxCa) -> PolarsResult<DataFrame> {
    // A gather from a table of several chunks (a Parquet file's row groups) may give several;
    // one chunk is what the next steps share without copying.
    let gathered = consume_columns(df, |column| -> PolarsResult<Column> { Ok(column.take(idx)?.rechunk()) })?;
    DataFrame::new(idx.len(), gathered)
}

/// `each` of `df`'s columns, in order, as many at a time as there are threads (one column on
/// each), every column dropped once `each` is done with it: what replaces the table is built
/// while it is given up, never beside all of it.
pub fn consume_columns<T: Send, E: Send>(
    df: DataFrame,
    each: impl Fn(Column) -> Result<T, E> + Sync,
) -> Result<Vec<T>, E> {
    use rayon::prelude::*;
    let at_once = rayon::current_num_threads().max(1);
    let mut done = Vec::with_capacity(df.width());
    let mut columns = df.into_columns().into_iter();
    loop {
        let group: Vec<Column> = columns.by_ref().take(at_once).collect();
        if group.is_empty() {
            break;
        }
        for result in group.into_par_iter().map(&each).collect::<Vec<_>>() {
            done.push(result?);
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(times: &[Option<i64>], ids: &[&str]) -> DataFrame {
        let t = Int64Chunked::from_iter_options("t".into(), times.iter().copied())
            .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
        let ids = StringChunked::from_iter_values("id".into(), ids.iter().copied());
        DataFrame::new_infer_height(vec![t.into_column(), ids.into_column()]).unwrap()
    }

    /// Where the time column's values start in memory: the same for a table and an uncopied one.
    fn buffer(df: &DataFrame) -> *const i64 {
        df.column("t").unwrap().datetime().unwrap().physical().downcast_iter().next().unwrap().values().as_ptr()
    }

    fn ids(df: &DataFrame) -> Vec<&str> {
        df.column("id").unwrap().str().unwrap().iter().map(Option::unwrap_or_default).collect()
    }

    #[test]
    fn take_owned_gathers_the_rows_of_a_table_of_several_chunks_into_one() {
        let mut df = frame(&[Some(1), None, Some(3)], &["a", "b", "c"]);
        df.vstack_mut_owned(frame(&[Some(4)], &["d"])).unwrap();
        let idx = IdxCa::from_vec("i".into(), vec![3, 0, 1]);
        let expected = df.take(&idx).unwrap();
        let got = take_owned(df, &idx).unwrap();
        assert!(got.equals_missing(&expected), "{got}");
        assert!(got.columns().iter().all(|c| c.n_chunks() == 1));
        assert_eq!(take_owned(got, &IdxCa::from_vec("i".into(), vec![])).unwrap().height(), 0);
    }

    #[test]
    fn time_order_is_the_order_polars_sorts_in_and_a_table_in_it_is_not_sorted_again() {
        let cases: [(&[Option<i64>], &[&str]); 5] = [
            (&[None, Some(1), Some(2), Some(2)], &["d", "c", "a", "b"]),
            (&[Some(1), Some(1), Some(3)], &["b", "a", "c"]),
            (&[Some(2), None, Some(1)], &["a", "b", "c"]),
            (&[Some(5), Some(4), Some(3)], &["a", "b", "c"]),
            (&[], &[]),
        ];
        for (times, names) in cases {
            let df = frame(times, names);
            let sorted = df.sort(["t", "id"], SortMultipleOptions::default()).unwrap();
            assert_eq!(in_time_order(&df, "t", "id").unwrap(), df.equals_missing(&sorted), "{names:?}");
            assert!(in_time_order(&sorted, "t", "id").unwrap(), "{:?}", ids(&sorted));
            let ours = sorted_by_time(df.clone(), "t", "id").unwrap();
            assert!(ours.equals_missing(&sorted), "{names:?}: {:?} against {:?}", ids(&ours), ids(&sorted));
        }
        // In order: the same frame comes back, its columns not copied.
        let df = frame(&[None, Some(1), Some(1)], &["z", "a", "b"]);
        let ours = sorted_by_time(df.clone(), "t", "id").unwrap();
        assert_eq!(buffer(&ours), buffer(&df));
        // A table of several chunks (one per file) is checked across them.
        let mut two = frame(&[Some(1), Some(3)], &["a", "b"]);
        two.vstack_mut(&frame(&[Some(2)], &["c"])).unwrap();
        assert!(!in_time_order(&two, "t", "id").unwrap());
    }

    #[test]
    fn rows_where_slices_one_run_and_filters_any_other_selection() {
        let df = frame(&[Some(1), Some(2), Some(3), Some(4)], &["a", "b", "c", "d"]);
        let mask = |m: [bool; 4]| BooleanChunked::from_slice("m".into(), &m);
        let run = rows_where(&df, &mask([false, true, true, false])).unwrap();
        assert_eq!(ids(&run), ["b", "c"]);
        // A slice shares the table's buffer (it starts one value in).
        assert_eq!(buffer(&run), buffer(&df).wrapping_add(1));
        assert_eq!(ids(&rows_where(&df, &mask([true, false, true, true])).unwrap()), ["a", "c", "d"]);
        assert_eq!(rows_where(&df, &mask([false; 4])).unwrap().height(), 0);
        assert_eq!(ids(&rows_where(&df, &mask([true; 4])).unwrap()), ["a", "b", "c", "d"]);
    }

    #[test]
    fn parts_stacked_and_put_in_time_order_are_the_table_they_were_cut_from() {
        let whole = frame(&[None, Some(1), Some(2), Some(2), Some(5)], &["e", "c", "a", "b", "d"]);
        // Cut into parts (keeping the order within each), stacked part after part.
        let parts: Vec<DataFrame> = [[true, false, true, false, false], [false, true, false, true, true]]
            .iter()
            .map(|m| whole.filter(&BooleanChunked::from_slice("m".into(), m)).unwrap())
            .collect();
        let stacked = stacked(parts).unwrap();
        assert_eq!(stacked.first_col_n_chunks(), 1);
        let order = time_order(&stacked, "t", "id").unwrap().unwrap();
        let back = stacked.take(&order).unwrap();
        assert!(back.equals_missing(&whole), "{:?}", ids(&back));
        assert!(back.equals_missing(&sorted_by_time(stacked, "t", "id").unwrap()));
        assert!(time_order(&whole, "t", "id").unwrap().is_none());
        assert_eq!(stacked_height(Vec::new()), 0);
    }

    fn stacked_height(tables: Vec<DataFrame>) -> usize {
        stacked(tables).unwrap().height()
    }
}
