//! Arrow → Postgres DataRow encoder, text and binary: the hot path of every result.
//!
//! A batch is encoded column at a time: each column is downcast once into an [`Enc`], then its
//! values are appended to every row's buffer as length-prefixed fields (`-1` for NULL). Row
//! buffers become `DataRow`s without further copying. Text output follows Postgres' own output
//! functions (float shortest form, `t`/`f`, `\x` bytea, ISO dates with `BC`, `postgres` interval
//! style), binary output follows the `*send` functions; see
//! <https://www.postgresql.org/docs/current/protocol-message-formats.html>.

use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};
use datafusion::arrow::array::*;
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::*;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use pgwire::api::Type;
use pgwire::api::results::FieldFormat;
use pgwire::messages::data::DataRow;

use crate::engine::pg_types::{is_uuid, pg_type};

/// Days from 1970-01-01 to 2000-01-01, the Postgres binary epoch.
const PG_EPOCH_DAYS: i64 = 10_957;
const PG_EPOCH_MICROS: i64 = PG_EPOCH_DAYS * 86_400_000_000;

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("Failed to encode column `{column}` of type {data_type}: {reason}")]
    Unsupported {
        column: String,
        data_type: DataType,
        reason: String,
    },
    #[error("timestamp out of range in column `{column}`: {value}")]
    OutOfRange { column: String, value: String },
}

impl From<EncodeError> for crate::engine::EngineError {
    fn from(e: EncodeError) -> Self {
        match e {
            EncodeError::OutOfRange { .. } => {
                crate::engine::EngineError::ValueOutOfRange(e.to_string())
            }
            EncodeError::Unsupported { .. } => {
                crate::engine::EngineError::Unencodable(e.to_string())
            }
        }
    }
}

/// Encodes a whole batch into `DataRow`s, column by column.
pub fn encode_batch(
    batch: &RecordBatch,
    formats: &[FieldFormat],
    out: &mut Vec<DataRow>,
) -> Result<(), EncodeError> {
    let rows = batch.num_rows();
    let schema = batch.schema();
    let ncols = batch.num_columns();
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| normalize(c, f))
        .collect::<Result<_, _>>()?;
    let mut bufs: Vec<BytesMut> = (0..rows)
        .map(|_| BytesMut::with_capacity(ncols * 12 + 8))
        .collect();
    for (i, (col, field)) in columns.iter().zip(schema.fields()).enumerate() {
        let format = formats.get(i).copied().unwrap_or(FieldFormat::Text);
        let enc = Enc::new(col.as_ref(), field)?;
        // Logical nulls: a NullArray (untyped `SELECT NULL`) has no validity buffer.
        let nulls = col.logical_nulls();
        let is_null = |row: usize| nulls.as_ref().is_some_and(|n| n.is_null(row));
        match format {
            FieldFormat::Text => {
                for (row, buf) in bufs.iter_mut().enumerate() {
                    if is_null(row) {
                        buf.put_i32(-1);
                    } else {
                        let at = begin_field(buf);
                        enc.text(row, buf);
                        end_field(buf, at);
                    }
                }
            }
            FieldFormat::Binary => {
                for (row, buf) in bufs.iter_mut().enumerate() {
                    if is_null(row) {
                        buf.put_i32(-1);
                    } else {
                        let at = begin_field(buf);
                        enc.binary(row, buf);
                        end_field(buf, at);
                    }
                }
            }
        }
    }
    out.extend(bufs.into_iter().map(|b| DataRow::new(b, ncols as i16)));
    Ok(())
}

/// One column in Postgres' text form (what a text-format DataRow holds), NULL kept: for
/// doors that render text without the wire's framing (CSV, JSON for types JSON lacks).
pub fn text_column(
    col: &ArrayRef,
    field: &Field,
) -> Result<datafusion::arrow::array::StringArray, EncodeError> {
    let col = normalize(col, field)?;
    let enc = Enc::new(col.as_ref(), field)?;
    let nulls = col.logical_nulls();
    let mut buf = BytesMut::new();
    let mut out = datafusion::arrow::array::StringBuilder::with_capacity(col.len(), col.len() * 8);
    for row in 0..col.len() {
        if nulls.as_ref().is_some_and(|n| n.is_null(row)) {
            out.append_null();
        } else {
            buf.clear();
            enc.text(row, &mut buf);
            out.append_value(String::from_utf8_lossy(&buf));
        }
    }
    Ok(out.finish())
}

#[inline]
fn begin_field(buf: &mut BytesMut) -> usize {
    let at = buf.len();
    buf.put_i32(0);
    at
}

#[inline]
fn end_field(buf: &mut BytesMut, at: usize) {
    let len = (buf.len() - at - 4) as i32;
    buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// Casts encodings that have no encoder of their own to the type the client is told about.
fn normalize(col: &ArrayRef, field: &Field) -> Result<ArrayRef, EncodeError> {
    let target = match col.data_type() {
        DataType::Dictionary(_, v) => Some(v.as_ref().clone()),
        DataType::RunEndEncoded(_, v) => Some(v.data_type().clone()),
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) => Some(DataType::Decimal128(*p, *s)),
        DataType::ListView(f) => Some(DataType::List(f.clone())),
        DataType::LargeListView(f) => Some(DataType::LargeList(f.clone())),
        _ => None,
    };
    match target {
        None => Ok(col.clone()),
        Some(t) => cast(col, &t).map_err(|e| EncodeError::Unsupported {
            column: field.name().clone(),
            data_type: col.data_type().clone(),
            reason: e.to_string(),
        }),
    }
}

enum ListOffsets<'a> {
    Small(&'a [i32]),
    Large(&'a [i64]),
    Fixed(usize),
}

impl ListOffsets<'_> {
    #[inline]
    fn range(&self, row: usize) -> (usize, usize) {
        match self {
            ListOffsets::Small(o) => (o[row] as usize, o[row + 1] as usize),
            ListOffsets::Large(o) => (o[row] as usize, o[row + 1] as usize),
            ListOffsets::Fixed(n) => (row * n, row * n + n),
        }
    }
}

/// One column, downcast once, ready to write any of its values.
enum Enc<'a> {
    Bool(&'a BooleanArray),
    I8(&'a [i8]),
    I16(&'a [i16]),
    I32(&'a [i32]),
    /// regproc: OIDs printed as function names.
    Regproc(&'a [i32]),
    I64(&'a [i64]),
    U8(&'a [u8]),
    U16(&'a [u16]),
    U32(&'a [u32]),
    U64(&'a [u64]),
    F16(&'a Float16Array),
    F32(&'a [f32]),
    F64(&'a [f64]),
    Dec128(&'a [i128], i8),
    Dec256(&'a Decimal256Array, i8),
    Str(&'a StringArray),
    LargeStr(&'a LargeStringArray),
    StrView(&'a StringViewArray),
    Bin(&'a BinaryArray),
    LargeBin(&'a LargeBinaryArray),
    BinView(&'a BinaryViewArray),
    FixedBin(&'a FixedSizeBinaryArray),
    Uuid(&'a FixedSizeBinaryArray),
    Date32(&'a [i32]),
    Date64(&'a [i64]),
    /// Timestamps as (values, unit, with time zone).
    Ts(&'a [i64], TimeUnit, bool),
    /// Times of day, values in `unit`.
    Time(TimeValues<'a>),
    /// Intervals as (months, days, micros) per row.
    Interval(IntervalValues<'a>),
    Json(&'a dyn Array),
    List {
        offsets: ListOffsets<'a>,
        /// Logical nulls of the elements (a NullArray child has no validity buffer).
        child_nulls: Option<NullBuffer>,
        child: Box<Enc<'a>>,
        element: Type,
    },
    Display(ArrayFormatter<'a>),
}

enum TimeValues<'a> {
    S(&'a [i32]),
    Ms(&'a [i32]),
    Us(&'a [i64]),
    Ns(&'a [i64]),
}

enum IntervalValues<'a> {
    YearMonth(&'a [i32]),
    DayTime(&'a [IntervalDayTime]),
    MonthDayNano(&'a [IntervalMonthDayNano]),
    Duration(&'a [i64], TimeUnit),
}

fn prim<T: ArrowPrimitiveType>(a: &dyn Array) -> &[T::Native] {
    a.as_primitive::<T>().values()
}

impl<'a> Enc<'a> {
    fn new(a: &'a dyn Array, field: &Field) -> Result<Enc<'a>, EncodeError> {
        use DataType::*;
        Ok(match a.data_type() {
            Boolean => Enc::Bool(a.as_boolean()),
            Int8 => Enc::I8(prim::<Int8Type>(a)),
            Int16 => Enc::I16(prim::<Int16Type>(a)),
            Int32 if crate::engine::pg_types::is_regproc(field) => {
                Enc::Regproc(prim::<Int32Type>(a))
            }
            Int32 => Enc::I32(prim::<Int32Type>(a)),
            Int64 => Enc::I64(prim::<Int64Type>(a)),
            UInt8 => Enc::U8(prim::<UInt8Type>(a)),
            UInt16 => Enc::U16(prim::<UInt16Type>(a)),
            UInt32 => Enc::U32(prim::<UInt32Type>(a)),
            UInt64 => Enc::U64(prim::<UInt64Type>(a)),
            Float16 => Enc::F16(a.as_primitive::<Float16Type>()),
            Float32 => Enc::F32(prim::<Float32Type>(a)),
            Float64 => Enc::F64(prim::<Float64Type>(a)),
            Decimal128(_, s) => Enc::Dec128(prim::<Decimal128Type>(a), *s),
            Decimal256(_, s) => Enc::Dec256(a.as_primitive::<Decimal256Type>(), *s),
            Utf8 => Enc::Str(a.as_string::<i32>()),
            LargeUtf8 => Enc::LargeStr(a.as_string::<i64>()),
            Utf8View => Enc::StrView(a.as_string_view()),
            Binary => Enc::Bin(a.as_binary::<i32>()),
            LargeBinary => Enc::LargeBin(a.as_binary::<i64>()),
            BinaryView => Enc::BinView(a.as_binary_view()),
            FixedSizeBinary(_) if is_uuid(field) => Enc::Uuid(a.as_fixed_size_binary()),
            FixedSizeBinary(_) => Enc::FixedBin(a.as_fixed_size_binary()),
            Date32 => Enc::Date32(prim::<Date32Type>(a)),
            Date64 => Enc::Date64(prim::<Date64Type>(a)),
            Timestamp(unit, tz) => {
                let v = match unit {
                    TimeUnit::Second => prim::<TimestampSecondType>(a),
                    TimeUnit::Millisecond => prim::<TimestampMillisecondType>(a),
                    TimeUnit::Microsecond => prim::<TimestampMicrosecondType>(a),
                    TimeUnit::Nanosecond => prim::<TimestampNanosecondType>(a),
                };
                // Seconds and milliseconds far from 1970 overflow microseconds (and the binary
                // form's shift to 2000): refuse the value instead of sending a wrong one.
                let nulls = a.logical_nulls();
                let bad = v.iter().enumerate().find(|(i, x)| {
                    nulls.as_ref().is_none_or(|n| n.is_valid(*i))
                        && checked_micros(**x, *unit)
                            .and_then(|m| m.checked_sub(PG_EPOCH_MICROS))
                            .is_none()
                });
                if let Some((_, x)) = bad {
                    return Err(EncodeError::OutOfRange {
                        column: field.name().clone(),
                        value: format!("{x} ({unit:?} since 1970-01-01)"),
                    });
                }
                Enc::Ts(v, *unit, tz.is_some())
            }
            Time32(TimeUnit::Second) => Enc::Time(TimeValues::S(prim::<Time32SecondType>(a))),
            Time32(_) => Enc::Time(TimeValues::Ms(prim::<Time32MillisecondType>(a))),
            Time64(TimeUnit::Microsecond) => {
                Enc::Time(TimeValues::Us(prim::<Time64MicrosecondType>(a)))
            }
            Time64(_) => Enc::Time(TimeValues::Ns(prim::<Time64NanosecondType>(a))),
            Interval(IntervalUnit::YearMonth) => {
                Enc::Interval(IntervalValues::YearMonth(prim::<IntervalYearMonthType>(a)))
            }
            Interval(IntervalUnit::DayTime) => {
                Enc::Interval(IntervalValues::DayTime(prim::<IntervalDayTimeType>(a)))
            }
            Interval(IntervalUnit::MonthDayNano) => Enc::Interval(IntervalValues::MonthDayNano(
                prim::<IntervalMonthDayNanoType>(a),
            )),
            Duration(unit) => {
                let v = match unit {
                    TimeUnit::Second => prim::<DurationSecondType>(a),
                    TimeUnit::Millisecond => prim::<DurationMillisecondType>(a),
                    TimeUnit::Microsecond => prim::<DurationMicrosecondType>(a),
                    TimeUnit::Nanosecond => prim::<DurationNanosecondType>(a),
                };
                Enc::Interval(IntervalValues::Duration(v, *unit))
            }
            List(f) | LargeList(f) | FixedSizeList(f, _) if pg_type(field).0 != Type::JSONB => {
                let (offsets, child_array): (ListOffsets, &dyn Array) = match a.data_type() {
                    List(_) => {
                        let l = a.as_list::<i32>();
                        (ListOffsets::Small(l.value_offsets()), l.values().as_ref())
                    }
                    LargeList(_) => {
                        let l = a.as_list::<i64>();
                        (ListOffsets::Large(l.value_offsets()), l.values().as_ref())
                    }
                    _ => {
                        let l = a.as_fixed_size_list();
                        (
                            ListOffsets::Fixed(l.value_length() as usize),
                            l.values().as_ref(),
                        )
                    }
                };
                let child = Enc::new(child_array, f)?;
                Enc::List {
                    offsets,
                    child_nulls: child_array.logical_nulls(),
                    child: Box::new(child),
                    element: pg_type(f).0,
                }
            }
            List(_) | LargeList(_) | FixedSizeList(..) | Struct(_) | Map(..) | Union(..) => {
                Enc::Json(a)
            }
            Null => Enc::Display(formatter(a, field)?),
            other => {
                return Err(EncodeError::Unsupported {
                    column: field.name().clone(),
                    data_type: other.clone(),
                    reason: "no Postgres encoding".into(),
                });
            }
        })
    }

    /// Writes the text form of a non-null value.
    fn text(&self, row: usize, buf: &mut BytesMut) {
        match self {
            Enc::Bool(a) => buf.put_u8(if a.value(row) { b't' } else { b'f' }),
            Enc::I8(v) => put_int(buf, v[row]),
            Enc::I16(v) => put_int(buf, v[row]),
            Enc::I32(v) => put_int(buf, v[row]),
            Enc::Regproc(v) => {
                buf.extend_from_slice(crate::engine::pg_catalog::regproc_name(v[row]).as_bytes())
            }
            Enc::I64(v) => put_int(buf, v[row]),
            Enc::U8(v) => put_int(buf, v[row]),
            Enc::U16(v) => put_int(buf, v[row]),
            Enc::U32(v) => put_int(buf, v[row]),
            Enc::U64(v) => put_int(buf, v[row]),
            Enc::F16(a) => put_f32(buf, a.value(row).to_f32()),
            Enc::F32(v) => put_f32(buf, v[row]),
            Enc::F64(v) => put_f64(buf, v[row]),
            Enc::Dec128(v, s) => put_decimal_text(buf, &v[row].to_string(), *s),
            Enc::Dec256(a, s) => put_decimal_text(buf, &a.value(row).to_string(), *s),
            Enc::Str(a) => buf.put_slice(a.value(row).as_bytes()),
            Enc::LargeStr(a) => buf.put_slice(a.value(row).as_bytes()),
            Enc::StrView(a) => buf.put_slice(a.value(row).as_bytes()),
            Enc::Bin(a) => put_bytea_text(buf, a.value(row)),
            Enc::LargeBin(a) => put_bytea_text(buf, a.value(row)),
            Enc::BinView(a) => put_bytea_text(buf, a.value(row)),
            Enc::FixedBin(a) => put_bytea_text(buf, a.value(row)),
            Enc::Uuid(a) => put_uuid_text(buf, a.value(row)),
            Enc::Date32(v) => put_date(buf, v[row] as i64),
            Enc::Date64(v) => put_date(buf, v[row].div_euclid(86_400_000)),
            Enc::Ts(v, unit, tz) => put_timestamp(buf, to_micros(v[row], *unit), *tz),
            Enc::Time(t) => put_time_of_day(buf, t.micros(row)),
            Enc::Interval(i) => {
                let (m, d, us) = i.parts(row);
                put_interval(buf, m, d, us);
            }
            Enc::Json(a) => write_json(*a, row, buf),
            Enc::List {
                offsets,
                child_nulls,
                child,
                ..
            } => {
                let (start, end) = offsets.range(row);
                buf.put_u8(b'{');
                let mut tmp = BytesMut::new();
                for i in start..end {
                    if i > start {
                        buf.put_u8(b',');
                    }
                    if child_nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                        buf.put_slice(b"NULL");
                    } else {
                        tmp.clear();
                        child.text(i, &mut tmp);
                        put_array_element(buf, &tmp);
                    }
                }
                buf.put_u8(b'}');
            }
            Enc::Display(f) => {
                let _ = write!(ByteWriter(buf), "{}", f.value(row));
            }
        }
    }

    /// Writes the binary (`*send`) form of a non-null value.
    fn binary(&self, row: usize, buf: &mut BytesMut) {
        match self {
            Enc::Bool(a) => buf.put_u8(a.value(row) as u8),
            Enc::I8(v) => buf.put_i16(v[row] as i16),
            Enc::I16(v) => buf.put_i16(v[row]),
            Enc::U8(v) => buf.put_i16(v[row] as i16),
            Enc::I32(v) | Enc::Regproc(v) => buf.put_i32(v[row]),
            Enc::U16(v) => buf.put_i32(v[row] as i32),
            Enc::I64(v) => buf.put_i64(v[row]),
            Enc::U32(v) => buf.put_u32(v[row]), // oid_send
            Enc::U64(v) => put_numeric_i128(buf, i128::from(v[row]), 0),
            Enc::F16(a) => buf.put_f32(a.value(row).to_f32()),
            Enc::F32(v) => buf.put_f32(v[row]),
            Enc::F64(v) => buf.put_f64(v[row]),
            Enc::Dec128(v, s) => put_numeric_i128(buf, v[row], *s),
            Enc::Dec256(a, s) => put_numeric_binary(buf, &a.value(row).to_string(), *s),
            Enc::Str(a) => buf.put_slice(a.value(row).as_bytes()),
            Enc::LargeStr(a) => buf.put_slice(a.value(row).as_bytes()),
            Enc::StrView(a) => buf.put_slice(a.value(row).as_bytes()),
            Enc::Bin(a) => buf.put_slice(a.value(row)),
            Enc::LargeBin(a) => buf.put_slice(a.value(row)),
            Enc::BinView(a) => buf.put_slice(a.value(row)),
            Enc::FixedBin(a) | Enc::Uuid(a) => buf.put_slice(a.value(row)),
            Enc::Date32(v) => buf.put_i32((v[row] as i64 - PG_EPOCH_DAYS) as i32),
            Enc::Date64(v) => buf.put_i32((v[row].div_euclid(86_400_000) - PG_EPOCH_DAYS) as i32),
            Enc::Ts(v, unit, _) => buf.put_i64(to_micros(v[row], *unit) - PG_EPOCH_MICROS),
            Enc::Time(t) => buf.put_i64(t.micros(row)),
            Enc::Interval(i) => {
                let (m, d, us) = i.parts(row);
                buf.put_i64(us);
                buf.put_i32(d);
                buf.put_i32(m);
            }
            Enc::Json(a) => {
                buf.put_u8(1); // jsonb binary format version
                write_json(*a, row, buf);
            }
            Enc::List {
                offsets,
                child_nulls,
                child,
                element,
                ..
            } => {
                let (start, end) = offsets.range(row);
                let n = end - start;
                let is_null = |i: usize| child_nulls.as_ref().is_some_and(|n| n.is_null(i));
                let has_null = (start..end).any(is_null);
                buf.put_i32(if n == 0 { 0 } else { 1 });
                buf.put_i32(has_null as i32);
                buf.put_u32(element.oid());
                if n > 0 {
                    buf.put_i32(n as i32);
                    buf.put_i32(1);
                }
                for i in start..end {
                    if is_null(i) {
                        buf.put_i32(-1);
                    } else {
                        let at = begin_field(buf);
                        child.binary(i, buf);
                        end_field(buf, at);
                    }
                }
            }
            Enc::Display(f) => {
                let _ = write!(ByteWriter(buf), "{}", f.value(row));
            }
        }
    }
}

fn formatter<'a>(a: &'a dyn Array, field: &Field) -> Result<ArrayFormatter<'a>, EncodeError> {
    ArrayFormatter::try_new(a, &FormatOptions::default()).map_err(|e| EncodeError::Unsupported {
        column: field.name().clone(),
        data_type: a.data_type().clone(),
        reason: e.to_string(),
    })
}

impl TimeValues<'_> {
    #[inline]
    fn micros(&self, row: usize) -> i64 {
        match self {
            TimeValues::S(v) => v[row] as i64 * 1_000_000,
            TimeValues::Ms(v) => v[row] as i64 * 1_000,
            TimeValues::Us(v) => v[row],
            TimeValues::Ns(v) => v[row] / 1_000,
        }
    }
}

impl IntervalValues<'_> {
    /// (months, days, microseconds), the Postgres interval representation.
    #[inline]
    fn parts(&self, row: usize) -> (i32, i32, i64) {
        match self {
            IntervalValues::YearMonth(v) => (v[row], 0, 0),
            IntervalValues::DayTime(v) => (0, v[row].days, v[row].milliseconds as i64 * 1_000),
            IntervalValues::MonthDayNano(v) => {
                (v[row].months, v[row].days, v[row].nanoseconds / 1_000)
            }
            IntervalValues::Duration(v, unit) => (0, 0, to_micros(v[row], *unit)),
        }
    }
}

/// `fmt::Write` over a `BytesMut`, for the rare values formatted through `Display`.
struct ByteWriter<'a>(&'a mut BytesMut);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.put_slice(s.as_bytes());
        Ok(())
    }
}

#[inline]
fn put_int<I: itoa::Integer>(buf: &mut BytesMut, v: I) {
    let mut b = itoa::Buffer::new();
    buf.put_slice(b.format(v).as_bytes());
}

#[inline]
/// Microseconds of a timestamp; callers have checked the range (`checked_micros`) where the
/// unit can overflow.
fn to_micros(v: i64, unit: TimeUnit) -> i64 {
    checked_micros(v, unit).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

fn checked_micros(v: i64, unit: TimeUnit) -> Option<i64> {
    match unit {
        TimeUnit::Second => v.checked_mul(1_000_000),
        TimeUnit::Millisecond => v.checked_mul(1_000),
        TimeUnit::Microsecond => Some(v),
        TimeUnit::Nanosecond => Some(v.div_euclid(1_000)),
    }
}

/// Postgres' float output (extra_float_digits = 1): shortest round-trip digits, exponent form
/// outside 1e-4 ..= 1e(digits), `Infinity`/`-Infinity`/`NaN`.
fn put_f64(buf: &mut BytesMut, v: f64) {
    put_float(
        buf,
        v,
        v.is_nan(),
        v.is_infinite(),
        15,
        || format!("{v:e}"),
        || format!("{v}"),
    )
}

fn put_f32(buf: &mut BytesMut, v: f32) {
    put_float(
        buf,
        v as f64,
        v.is_nan(),
        v.is_infinite(),
        6,
        || format!("{v:e}"),
        || format!("{v}"),
    )
}

fn put_float(
    buf: &mut BytesMut,
    v: f64,
    nan: bool,
    inf: bool,
    max_exp: i32,
    sci: impl Fn() -> String,
    plain: impl Fn() -> String,
) {
    if nan {
        return buf.put_slice(b"NaN");
    }
    if inf {
        return buf.put_slice(if v > 0.0 { b"Infinity" } else { b"-Infinity" });
    }
    if v == 0.0 {
        return buf.put_slice(if v.is_sign_negative() { b"-0" } else { b"0" });
    }
    let s = sci();
    let (mantissa, exp) = s.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    if exp < -4 || exp >= max_exp {
        buf.put_slice(mantissa.as_bytes());
        buf.put_u8(b'e');
        buf.put_u8(if exp < 0 { b'-' } else { b'+' });
        if exp.abs() < 10 {
            buf.put_u8(b'0');
        }
        put_int(buf, exp.abs());
    } else {
        buf.put_slice(plain().as_bytes());
    }
}

/// Inserts the decimal point into an unscaled integer's digits.
fn put_decimal_text(buf: &mut BytesMut, unscaled: &str, scale: i8) {
    let (neg, digits) = match unscaled.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, unscaled),
    };
    if neg {
        buf.put_u8(b'-');
    }
    if scale <= 0 {
        buf.put_slice(digits.as_bytes());
        if digits != "0" {
            for _ in 0..(-scale) {
                buf.put_u8(b'0');
            }
        }
        return;
    }
    let s = scale as usize;
    if digits.len() > s {
        let (int, frac) = digits.split_at(digits.len() - s);
        buf.put_slice(int.as_bytes());
        buf.put_u8(b'.');
        buf.put_slice(frac.as_bytes());
    } else {
        buf.put_slice(b"0.");
        for _ in 0..(s - digits.len()) {
            buf.put_u8(b'0');
        }
        buf.put_slice(digits.as_bytes());
    }
}

/// `numeric_send` straight from an unscaled integer: base-10000 groups by division instead of
/// formatting and re-parsing text (binary result sets with decimal columns spent most of their
/// encoding time there). Negative scales and values near the i128 limit take the text path.
fn put_numeric_i128(buf: &mut BytesMut, v: i128, scale: i8) {
    let Ok(s) = u32::try_from(scale) else {
        return put_numeric_binary(buf, &v.to_string(), scale);
    };
    let pad = (4 - s % 4) % 4;
    let Some(m) = v.unsigned_abs().checked_mul(10u128.pow(pad)) else {
        return put_numeric_binary(buf, &v.to_string(), scale);
    };
    let frac_groups = ((s + pad) / 4) as i16;
    // Least significant group first; le[k] has weight k - frac_groups.
    let mut le = [0i16; 11];
    let mut n = 0;
    if let Ok(mut m) = u64::try_from(m) {
        while m > 0 {
            le[n] = (m % 10_000) as i16;
            m /= 10_000;
            n += 1;
        }
    } else {
        let mut m = m;
        while m > 0 {
            le[n] = (m % 10_000) as i16;
            m /= 10_000;
            n += 1;
        }
    }
    let low = le[..n].iter().take_while(|d| **d == 0).count();
    let ndigits = n - low;
    let weight = if ndigits == 0 {
        0
    } else {
        n as i16 - 1 - frac_groups
    };
    buf.put_i16(ndigits as i16);
    buf.put_i16(weight);
    buf.put_u16(if v < 0 && ndigits > 0 { 0x4000 } else { 0 });
    buf.put_u16(s as u16);
    for d in le[low..n].iter().rev() {
        buf.put_i16(*d);
    }
}

/// Postgres `numeric_send`: base-10000 digits with weight, sign and display scale.
fn put_numeric_binary(buf: &mut BytesMut, unscaled: &str, scale: i8) {
    let (neg, digits) = match unscaled.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, unscaled),
    };
    let (int_part, frac_part, dscale): (String, String, u16) = if scale <= 0 {
        let mut s = digits.to_string();
        if digits != "0" {
            s.extend(std::iter::repeat_n('0', (-scale) as usize));
        }
        (s, String::new(), 0)
    } else {
        let s = scale as usize;
        let padded = if digits.len() <= s {
            format!("{}{}", "0".repeat(s - digits.len() + 1), digits)
        } else {
            digits.to_string()
        };
        let (i, f) = padded.split_at(padded.len() - s);
        (i.to_string(), f.to_string(), s as u16)
    };
    let int_trim = int_part.trim_start_matches('0');
    // Integer groups from the right, fraction groups from the left.
    let mut groups: Vec<i16> = Vec::new();
    let lead = int_trim.len() % 4;
    let int_groups = int_trim.len().div_ceil(4);
    let mut pos = 0;
    if lead > 0 {
        groups.push(int_trim[..lead].parse().unwrap_or(0));
        pos = lead;
    }
    while pos < int_trim.len() {
        groups.push(int_trim[pos..pos + 4].parse().unwrap_or(0));
        pos += 4;
    }
    let mut frac = frac_part.clone();
    while frac.len() % 4 != 0 {
        frac.push('0');
    }
    for chunk in frac.as_bytes().chunks(4) {
        groups.push(std::str::from_utf8(chunk).unwrap().parse().unwrap_or(0));
    }
    let mut weight = int_groups as i16 - 1;
    // Leading zero groups (only possible for values < 1) lower the weight.
    let mut first = 0;
    while first < groups.len() && groups[first] == 0 {
        first += 1;
        weight -= 1;
    }
    let mut last = groups.len();
    while last > first && groups[last - 1] == 0 {
        last -= 1;
    }
    let digits = &groups[first..last];
    if digits.is_empty() {
        weight = 0;
    }
    buf.put_i16(digits.len() as i16);
    buf.put_i16(weight);
    buf.put_u16(if neg && !digits.is_empty() { 0x4000 } else { 0 });
    buf.put_u16(dscale);
    for d in digits {
        buf.put_i16(*d);
    }
}

fn put_bytea_text(buf: &mut BytesMut, v: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    buf.reserve(2 + v.len() * 2);
    buf.put_slice(b"\\x");
    for b in v {
        buf.put_u8(HEX[(b >> 4) as usize]);
        buf.put_u8(HEX[(b & 15) as usize]);
    }
}

fn put_uuid_text(buf: &mut BytesMut, v: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in v.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            buf.put_u8(b'-');
        }
        buf.put_u8(HEX[(b >> 4) as usize]);
        buf.put_u8(HEX[(b & 15) as usize]);
    }
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm; proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn put_2(buf: &mut BytesMut, v: u32) {
    buf.put_u8(b'0' + (v / 10) as u8);
    buf.put_u8(b'0' + (v % 10) as u8);
}

/// `YYYY-MM-DD`, with ` BC` for years before 1 as Postgres prints them. Returns whether BC.
fn put_date_part(buf: &mut BytesMut, days: i64) -> bool {
    let (y, m, d) = civil_from_days(days);
    let (year, bc) = if y <= 0 { (1 - y, true) } else { (y, false) };
    if year < 1000 {
        let mut b = itoa::Buffer::new();
        let s = b.format(year);
        for _ in s.len()..4 {
            buf.put_u8(b'0');
        }
        buf.put_slice(s.as_bytes());
    } else {
        put_int(buf, year);
    }
    buf.put_u8(b'-');
    put_2(buf, m);
    buf.put_u8(b'-');
    put_2(buf, d);
    bc
}

fn put_date(buf: &mut BytesMut, days: i64) {
    if put_date_part(buf, days) {
        buf.put_slice(b" BC");
    }
}

/// `HH:MM:SS[.ffffff]` with trailing fractional zeros removed.
fn put_clock(buf: &mut BytesMut, hours: u64, minutes: u32, micros_in_minute: u64) {
    if hours < 10 {
        buf.put_u8(b'0');
    }
    put_int(buf, hours);
    buf.put_u8(b':');
    put_2(buf, minutes);
    buf.put_u8(b':');
    put_2(buf, (micros_in_minute / 1_000_000) as u32);
    let mut frac = (micros_in_minute % 1_000_000) as u32;
    if frac > 0 {
        let mut width = 6;
        while frac.is_multiple_of(10) {
            frac /= 10;
            width -= 1;
        }
        buf.put_u8(b'.');
        let mut b = itoa::Buffer::new();
        let s = b.format(frac);
        for _ in s.len()..width {
            buf.put_u8(b'0');
        }
        buf.put_slice(s.as_bytes());
    }
}

fn put_time_of_day(buf: &mut BytesMut, micros: i64) {
    let m = micros.rem_euclid(86_400_000_000) as u64;
    put_clock(
        buf,
        m / 3_600_000_000,
        ((m / 60_000_000) % 60) as u32,
        m % 60_000_000,
    );
}

/// `YYYY-MM-DD HH:MM:SS[.f][+00][ BC]`: the offset comes before the era, as Postgres prints it.
fn put_timestamp(buf: &mut BytesMut, micros: i64, utc_offset: bool) {
    let days = micros.div_euclid(86_400_000_000);
    let bc = put_date_part(buf, days);
    buf.put_u8(b' ');
    put_time_of_day(buf, micros);
    if utc_offset {
        buf.put_slice(b"+00");
    }
    if bc {
        buf.put_slice(b" BC");
    }
}

/// Postgres `IntervalStyle = postgres` output, e.g. `1 year 2 mons -3 days +04:05:06.5`.
fn put_interval(buf: &mut BytesMut, months: i32, days: i32, micros: i64) {
    let mut is_zero = true;
    let mut is_before = false;
    let mut part = |buf: &mut BytesMut, value: i64, unit: &str| {
        if value == 0 {
            return;
        }
        if !is_zero {
            buf.put_u8(b' ');
        }
        if is_before && value > 0 {
            buf.put_u8(b'+');
        }
        put_int(buf, value);
        buf.put_u8(b' ');
        buf.put_slice(unit.as_bytes());
        if value != 1 {
            buf.put_u8(b's');
        }
        is_before = value < 0;
        is_zero = false;
    };
    part(buf, (months / 12) as i64, "year");
    part(buf, (months % 12) as i64, "mon");
    part(buf, days as i64, "day");
    if is_zero || micros != 0 {
        if !is_zero {
            buf.put_u8(b' ');
        }
        if micros < 0 {
            buf.put_u8(b'-');
        } else if is_before {
            buf.put_u8(b'+');
        }
        let m = micros.unsigned_abs();
        put_clock(
            buf,
            m / 3_600_000_000,
            ((m / 60_000_000) % 60) as u32,
            m % 60_000_000,
        );
    }
}

/// Array element in text form, quoted when Postgres' array_in would misread it.
fn put_array_element(buf: &mut BytesMut, v: &[u8]) {
    let needs_quotes = v.is_empty()
        || v.eq_ignore_ascii_case(b"NULL")
        || v.iter()
            .any(|c| matches!(c, b'{' | b'}' | b',' | b'"' | b'\\') || c.is_ascii_whitespace());
    if !needs_quotes {
        return buf.put_slice(v);
    }
    buf.put_u8(b'"');
    for &c in v {
        if c == b'"' || c == b'\\' {
            buf.put_u8(b'\\');
        }
        buf.put_u8(c);
    }
    buf.put_u8(b'"');
}

fn put_json_string(buf: &mut BytesMut, s: &str) {
    buf.put_u8(b'"');
    for c in s.chars() {
        match c {
            '"' => buf.put_slice(b"\\\""),
            '\\' => buf.put_slice(b"\\\\"),
            '\n' => buf.put_slice(b"\\n"),
            '\r' => buf.put_slice(b"\\r"),
            '\t' => buf.put_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(ByteWriter(buf), "\\u{:04x}", c as u32);
            }
            c => {
                let mut tmp = [0u8; 4];
                buf.put_slice(c.encode_utf8(&mut tmp).as_bytes());
            }
        }
    }
    buf.put_u8(b'"');
}

/// The order of keys in a Postgres jsonb object: by length, then bytewise.
fn jsonb_key_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

/// JSON text of one value of any Arrow type (structs and maps become objects, lists arrays,
/// numbers stay numbers, everything else its Postgres text form as a string).
fn write_json(a: &dyn Array, row: usize, buf: &mut BytesMut) {
    use DataType::*;
    if a.logical_nulls().is_some_and(|n| n.is_null(row)) {
        return buf.put_slice(b"null");
    }
    match a.data_type() {
        Boolean => buf.put_slice(if a.as_boolean().value(row) {
            b"true"
        } else {
            b"false"
        }),
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Decimal128(..)
        | Decimal256(..) => {
            let field = Field::new("v", a.data_type().clone(), true);
            if let Ok(e) = Enc::new(a, &field) {
                e.text(row, buf);
            }
        }
        Float16 | Float32 | Float64 => {
            let v = match a.data_type() {
                Float16 => a.as_primitive::<Float16Type>().value(row).to_f64(),
                Float32 => a.as_primitive::<Float32Type>().value(row) as f64,
                _ => a.as_primitive::<Float64Type>().value(row),
            };
            if v.is_finite() {
                put_f64(buf, v);
            } else {
                let mut tmp = BytesMut::new();
                put_f64(&mut tmp, v);
                put_json_string(buf, std::str::from_utf8(&tmp).unwrap_or(""));
            }
        }
        Utf8 => put_json_string(buf, a.as_string::<i32>().value(row)),
        LargeUtf8 => put_json_string(buf, a.as_string::<i64>().value(row)),
        Utf8View => put_json_string(buf, a.as_string_view().value(row)),
        // Objects as Postgres prints jsonb: keys shortest first, then by their bytes, each
        // once (the last wins), `{"a": 1, "bb": 2}`.
        Struct(fields) => {
            let s = a.as_struct();
            // Per row: sort only when the struct's fields are not in jsonb order already.
            let sorted = fields
                .windows(2)
                .all(|w| jsonb_key_order(w[0].name(), w[1].name()).is_le());
            let mut order: Vec<usize> = Vec::new();
            if !sorted {
                order = (0..fields.len()).collect();
                order.sort_by(|&x, &y| jsonb_key_order(fields[x].name(), fields[y].name()));
            }
            buf.put_u8(b'{');
            let keys = (0..fields.len()).map(|n| if sorted { n } else { order[n] });
            for (n, i) in keys.enumerate() {
                if n > 0 {
                    buf.put_slice(b", ");
                }
                put_json_string(buf, fields[i].name());
                buf.put_slice(b": ");
                write_json(s.column(i).as_ref(), row, buf);
            }
            buf.put_u8(b'}');
        }
        Map(..) => {
            let m = a.as_map();
            let (start, end) = (
                m.value_offsets()[row] as usize,
                m.value_offsets()[row + 1] as usize,
            );
            let (keys, values) = (m.keys(), m.values());
            let mut entries: Vec<(String, usize)> = (start..end)
                .map(|i| {
                    let mut key = BytesMut::new();
                    json_scalar_text(keys.as_ref(), i, &mut key);
                    (String::from_utf8_lossy(&key).into_owned(), i)
                })
                .collect();
            // Stable: of equal keys the last stays last, and is the one kept.
            entries.sort_by(|x, y| jsonb_key_order(&x.0, &y.0));
            buf.put_u8(b'{');
            let mut first = true;
            for (n, (key, i)) in entries.iter().enumerate() {
                if entries.get(n + 1).is_some_and(|next| next.0 == *key) {
                    continue;
                }
                if !first {
                    buf.put_slice(b", ");
                }
                first = false;
                put_json_string(buf, key);
                buf.put_slice(b": ");
                write_json(values.as_ref(), *i, buf);
            }
            buf.put_u8(b'}');
        }
        List(_) | LargeList(_) | FixedSizeList(..) => {
            let (values, start, end): (&ArrayRef, usize, usize) = match a.data_type() {
                List(_) => {
                    let l = a.as_list::<i32>();
                    let o = l.value_offsets();
                    (l.values(), o[row] as usize, o[row + 1] as usize)
                }
                LargeList(_) => {
                    let l = a.as_list::<i64>();
                    let o = l.value_offsets();
                    (l.values(), o[row] as usize, o[row + 1] as usize)
                }
                _ => {
                    let l = a.as_fixed_size_list();
                    let n = l.value_length() as usize;
                    (l.values(), row * n, row * n + n)
                }
            };
            buf.put_u8(b'[');
            for i in start..end {
                if i > start {
                    buf.put_slice(b", ");
                }
                write_json(values.as_ref(), i, buf);
            }
            buf.put_u8(b']');
        }
        _ => {
            let mut tmp = BytesMut::new();
            json_scalar_text(a, row, &mut tmp);
            put_json_string(buf, std::str::from_utf8(&tmp).unwrap_or(""));
        }
    }
}

/// Postgres text form of a scalar, used for JSON strings and map keys.
fn json_scalar_text(a: &dyn Array, row: usize, buf: &mut BytesMut) {
    let field = Field::new("v", a.data_type().clone(), true);
    match a.data_type() {
        DataType::Struct(_) | DataType::Map(..) | DataType::List(_) | DataType::LargeList(_) => {
            write_json(a, row, buf)
        }
        _ => match Enc::new(a, &field) {
            Ok(e) => e.text(row, buf),
            Err(_) => {
                if let Ok(f) = ArrayFormatter::try_new(a, &FormatOptions::default()) {
                    let _ = write!(ByteWriter(buf), "{}", f.value(row));
                }
            }
        },
    }
}

/// Field list and per-column formats for a result schema.
pub fn column_types(schema: &Schema) -> Vec<(String, Type, i32)> {
    schema
        .fields()
        .iter()
        .map(|f| {
            let (t, m) = pg_type(f);
            (f.name().clone(), t, m)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn text_of(a: ArrayRef) -> Vec<Option<String>> {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "c",
            a.data_type().clone(),
            true,
        )]));
        let batch = RecordBatch::try_new(schema, vec![a]).unwrap();
        let mut rows = Vec::new();
        encode_batch(&batch, &[FieldFormat::Text], &mut rows).unwrap();
        rows.iter()
            .map(|r| {
                let len = i32::from_be_bytes(r.data[..4].try_into().unwrap());
                (len >= 0).then(|| String::from_utf8(r.data[4..].to_vec()).unwrap())
            })
            .collect()
    }

    fn bin(f: impl Fn(&mut BytesMut)) -> Vec<u8> {
        let mut b = BytesMut::new();
        f(&mut b);
        b.to_vec()
    }

    #[test]
    fn maps_print_as_postgres_prints_jsonb() {
        use datafusion::arrow::array::{MapBuilder, StringBuilder};
        let mut m = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        for (k, v) in [("bb", "1"), ("a", "2"), ("bb", "3"), ("c", "4")] {
            m.keys().append_value(k);
            m.values().append_value(v);
        }
        m.append(true).unwrap();
        // As PostgreSQL 15 prints '{"bb":"1","a":"2","bb":"3","c":"4"}'::jsonb.
        assert_eq!(
            text_of(Arc::new(m.finish())),
            [Some(r#"{"a": "2", "c": "4", "bb": "3"}"#.to_string())]
        );
    }

    #[test]
    fn timestamps_beyond_microseconds_are_an_error_not_a_wrong_value() {
        use datafusion::arrow::array::{TimestampMillisecondArray, TimestampSecondArray};
        for (a, text) in [
            (
                Arc::new(TimestampSecondArray::from(vec![
                    Some(i64::MAX / 1000),
                    None,
                ])) as ArrayRef,
                "",
            ),
            (
                Arc::new(TimestampMillisecondArray::from(vec![i64::MIN + 1])) as ArrayRef,
                "",
            ),
            (
                Arc::new(TimestampSecondArray::from(vec![Some(86_400), None])) as ArrayRef,
                "1970-01-02 00:00:00",
            ),
        ] {
            let schema = Arc::new(Schema::new(vec![Field::new(
                "c",
                a.data_type().clone(),
                true,
            )]));
            let batch = RecordBatch::try_new(schema, vec![a]).unwrap();
            for format in [FieldFormat::Text, FieldFormat::Binary] {
                let mut rows = Vec::new();
                let r = encode_batch(&batch, &[format], &mut rows);
                if text.is_empty() {
                    assert!(matches!(r, Err(EncodeError::OutOfRange { .. })), "{r:?}");
                } else {
                    r.unwrap();
                }
            }
        }
        // A null slot's arbitrary value is not checked.
        let a: ArrayRef = Arc::new(TimestampSecondArray::from(vec![Some(0), None]));
        assert_eq!(text_of(a)[0].as_deref(), Some("1970-01-01 00:00:00"));
    }

    #[test]
    fn floats_print_like_postgres() {
        let a = Arc::new(Float64Array::from(vec![
            1.5,
            1e20,
            1.5e-7,
            0.0001,
            f64::INFINITY,
            f64::NAN,
            -0.0,
            123456789012345.0,
            1e15,
        ]));
        let t: Vec<_> = text_of(a).into_iter().map(Option::unwrap).collect();
        assert_eq!(
            t,
            [
                "1.5",
                "1e+20",
                "1.5e-07",
                "0.0001",
                "Infinity",
                "NaN",
                "-0",
                "123456789012345",
                "1e+15"
            ]
        );
        let f = Arc::new(Float32Array::from(vec![0.1f32, 1e6]));
        assert_eq!(text_of(f), [Some("0.1".into()), Some("1e+06".into())]);
    }

    #[test]
    fn decimals_keep_their_scale() {
        let a = Decimal128Array::from(vec![Some(12345), Some(-5), Some(0), None])
            .with_precision_and_scale(10, 2)
            .unwrap();
        assert_eq!(
            text_of(Arc::new(a)),
            [
                Some("123.45".into()),
                Some("-0.05".into()),
                Some("0.00".into()),
                None
            ]
        );
    }

    #[test]
    fn numeric_from_integers_matches_the_text_path() {
        let mut values = vec![
            0i128,
            1,
            -1,
            9_999,
            10_000,
            -10_001,
            i64::MAX as i128,
            i128::MAX / 1000,
        ];
        let mut x: i128 = 0x5DEECE66D;
        for _ in 0..2000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            values.push(x >> (x & 0x7f));
        }
        for v in values {
            for scale in [0i8, 1, 2, 3, 4, 5, 8, 17, 38, -2] {
                assert_eq!(
                    bin(|b| put_numeric_i128(b, v, scale)),
                    bin(|b| put_numeric_binary(b, &v.to_string(), scale)),
                    "{v} scale {scale}"
                );
            }
        }
    }

    #[test]
    fn numeric_binary_matches_postgres_layout() {
        // 123.45 → digits [123, 4500], weight 0, dscale 2
        assert_eq!(
            bin(|b| put_numeric_binary(b, "12345", 2)),
            [0, 2, 0, 0, 0, 0, 0, 2, 0, 123, 0x11, 0x94]
        );
        // -0.05 → digits [500], weight -1, negative, dscale 2
        assert_eq!(
            bin(|b| put_numeric_binary(b, "-5", 2)),
            [0, 1, 0xff, 0xff, 0x40, 0, 0, 2, 0x01, 0xf4]
        );
        // 10000 → digits [1], weight 1
        assert_eq!(
            bin(|b| put_numeric_binary(b, "10000", 0)),
            [0, 1, 0, 1, 0, 0, 0, 0, 0, 1]
        );
        // 0.00 → no digits, dscale 2
        assert_eq!(
            bin(|b| put_numeric_binary(b, "0", 2)),
            [0, 0, 0, 0, 0, 0, 0, 2]
        );
    }

    #[test]
    fn dates_and_timestamps_print_like_postgres() {
        let d = Date32Array::from(vec![0, 19_000, -719_528]);
        assert_eq!(
            text_of(Arc::new(d)),
            [
                Some("1970-01-01".into()),
                Some("2022-01-08".into()),
                Some("0001-01-01 BC".into())
            ]
        );
        let bc =
            TimestampMicrosecondArray::from(vec![-62_198_755_200_000_000]).with_timezone("UTC");
        assert_eq!(
            text_of(Arc::new(bc)),
            [Some("0002-01-01 00:00:00+00 BC".into())]
        );
        let ts = TimestampMicrosecondArray::from(vec![1_500_000, 1_700_000_000_123_000])
            .with_timezone("UTC");
        assert_eq!(
            text_of(Arc::new(ts)),
            [
                Some("1970-01-01 00:00:01.5+00".into()),
                Some("2023-11-14 22:13:20.123+00".into())
            ]
        );
    }

    #[test]
    fn intervals_use_postgres_style() {
        let t = |m, d, us| bin(|b| put_interval(b, m, d, us));
        assert_eq!(t(14, 3, 14_706_000_000), b"1 year 2 mons 3 days 04:05:06");
        assert_eq!(t(0, 0, 0), b"00:00:00");
        assert_eq!(t(-12, 2, 500_000), b"-1 years +2 days 00:00:00.5");
        assert_eq!(t(0, -2, 500_000), b"-2 days +00:00:00.5");
        assert_eq!(t(0, 1, -3_600_000_000), b"1 day -01:00:00");
    }

    #[test]
    fn arrays_quote_what_needs_quoting() {
        let l = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), None, Some(3)]),
            Some(vec![]),
        ]);
        assert_eq!(
            text_of(Arc::new(l)),
            [Some("{1,NULL,3}".into()), Some("{}".into())]
        );
        let mut b = BytesMut::new();
        put_array_element(&mut b, b"a b");
        put_array_element(&mut b, b"x\"y");
        assert_eq!(&b[..], b"\"a b\"\"x\\\"y\"");
    }
}
