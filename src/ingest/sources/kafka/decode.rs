//! Message values → Arrow: Avro in the Confluent wire format straight into columns with
//! `arrow-avro` (no row-by-row `apache-avro` values), JSON objects through the same typed
//! collector landed files use, or the raw bytes.
//!
//! A message that does not decode is a dead letter (its index and the reason), never an error.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_avro::reader::ReaderBuilder;
use arrow_avro::schema::{AvroSchema, Fingerprint, FingerprintAlgorithm, SchemaStore};
use datafusion::arrow::array::{ArrayRef, BinaryArray, RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::{DataType, Field, Schema};

use crate::config::SourceConfig;
use crate::ingest::{Result, read};

/// Rows decoded with one schema: row `i` came from message `rows[i]`.
pub struct Group {
    pub batch: RecordBatch,
    pub rows: Vec<u32>,
    /// The Avro schema id the group was written with (`None` for JSON, raw and tombstones).
    pub schema_id: Option<u32>,
}

#[derive(Default)]
pub struct Decoded {
    pub groups: Vec<Group>,
    /// (message index, reason)
    pub rejects: Vec<(u32, String)>,
}

/// Rows decoded per Avro decoder batch: a corrupt message replays at most this many.
const AVRO_RUN: usize = 4096;

/// Messages without a value (tombstones of a compacted topic): rows whose value columns are
/// all NULL (`_kafka_tombstone` is true), so `delete_when: "_kafka_tombstone"` can
/// delete their key in silver.
fn tombstones(values: &[Option<&[u8]>]) -> Option<Group> {
    let rows: Vec<u32> = (0..values.len() as u32)
        .filter(|i| values[*i as usize].is_none())
        .collect();
    if rows.is_empty() {
        return None;
    }
    let batch = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(rows.len())),
    )
    .expect("an empty schema takes any row count");
    Some(Group {
        batch,
        rows,
        schema_id: None,
    })
}

pub fn raw(values: &[Option<&[u8]>]) -> Decoded {
    let mut d = Decoded::default();
    let rows: Vec<u32> = (0..values.len() as u32)
        .filter(|i| values[*i as usize].is_some())
        .collect();
    if !rows.is_empty() {
        let col: BinaryArray = rows
            .iter()
            .map(|i| values[*i as usize])
            .collect::<Vec<_>>()
            .into_iter()
            .collect();
        let schema = Arc::new(Schema::new(vec![Field::new(
            "value",
            DataType::Binary,
            true,
        )]));
        d.groups.push(Group {
            batch: RecordBatch::try_new(schema, vec![Arc::new(col) as ArrayRef])
                .expect("one binary column"),
            rows,
            schema_id: None,
        });
    }
    d.groups.extend(tombstones(values));
    d
}

pub fn json(
    values: &[Option<&[u8]>],
    source: &SourceConfig,
    columns: Option<Vec<(String, DataType)>>,
) -> Result<Decoded> {
    let data = read::read_json_messages(values, source, columns)?;
    let mut d = Decoded::default();
    for r in data.rejects {
        d.rejects
            .push((r.line.unwrap_or_default() as u32, r.reason.clone()));
    }
    let b = &data.batch;
    let line = b.schema().index_of("_source_line")?;
    let rows: Vec<u32> = datafusion::arrow::array::AsArray::as_primitive::<
        datafusion::arrow::datatypes::Int64Type,
    >(b.column(line))
    .values()
    .iter()
    .map(|v| *v as u32)
    .collect();
    let keep: Vec<usize> = (0..b.num_columns())
        .filter(|i| {
            let n = b.schema().field(*i).name().clone();
            n != "_source_file" && n != "_source_line"
        })
        .collect();
    if !rows.is_empty() {
        d.groups.push(Group {
            batch: b.project(&keep)?,
            rows,
            schema_id: None,
        });
    }
    d.groups.extend(tombstones(values));
    Ok(d)
}

/// The schema id of a Confluent-framed value, or why it is not one.
pub fn confluent_id(v: &[u8]) -> std::result::Result<u32, String> {
    if v.len() < 5 || v[0] != 0 {
        return Err(
            "not in the Confluent wire format (no magic byte 0 and 4-byte schema id)".into(),
        );
    }
    Ok(u32::from_be_bytes([v[1], v[2], v[3], v[4]]))
}

/// Avro values; `schemas` holds the writer schema of every id the registry knows (an id it
/// does not know, or a value without the framing, is a dead letter).
pub fn avro(values: &[Option<&[u8]>], schemas: &HashMap<u32, String>) -> Decoded {
    let mut d = Decoded::default();
    let mut by_id: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (i, v) in values.iter().enumerate() {
        let Some(v) = v else { continue };
        match confluent_id(v) {
            Ok(id) if schemas.contains_key(&id) => by_id.entry(id).or_default().push(i as u32),
            Ok(id) => d.rejects.push((
                i as u32,
                format!("schema id {id} is not in the schema registry"),
            )),
            Err(e) => d.rejects.push((i as u32, e)),
        }
    }
    for (id, msgs) in by_id {
        let build = || -> std::result::Result<arrow_avro::reader::Decoder, String> {
            let mut store = SchemaStore::new_with_type(FingerprintAlgorithm::Id);
            store
                .set(Fingerprint::Id(id), AvroSchema::new(schemas[&id].clone()))
                .map_err(|e| e.to_string())?;
            ReaderBuilder::new()
                .with_writer_schema_store(store)
                .with_batch_size(2 * AVRO_RUN)
                .build_decoder()
                .map_err(|e| e.to_string())
        };
        let mut dec = match build() {
            Ok(dec) => dec,
            Err(e) => {
                for m in msgs {
                    d.rejects
                        .push((m, format!("schema id {id} cannot be read: {e}")));
                }
                continue;
            }
        };
        // One message is one row: it must be consumed whole and add exactly one row. A
        // decoder that failed midway may hold part of a row, so it is rebuilt and the run
        // since its last flush replayed without the bad message.
        let feed =
            |dec: &mut arrow_avro::reader::Decoder, v: &[u8]| -> std::result::Result<(), String> {
                let before = dec.capacity();
                match dec.decode(v) {
                    Ok(n) if n == v.len() && dec.capacity() + 1 == before => Ok(()),
                    Ok(n) if n < v.len() => Err(format!(
                        "corrupt Avro body for schema id {id}: {} of {} bytes decoded",
                        n,
                        v.len()
                    )),
                    Ok(_) => Err(format!("corrupt Avro body for schema id {id}")),
                    Err(e) => Err(format!("corrupt Avro body for schema id {id}: {e}")),
                }
            };
        let mut run: Vec<u32> = Vec::new();
        let flush = |dec: &mut arrow_avro::reader::Decoder,
                     run: &mut Vec<u32>,
                     d: &mut Decoded|
         -> std::result::Result<(), String> {
            if run.is_empty() {
                return Ok(());
            }
            let b = dec.flush().map_err(|e| e.to_string())?;
            if let Some(b) = b {
                d.groups.push(Group {
                    batch: b,
                    rows: std::mem::take(run),
                    schema_id: Some(id),
                });
            }
            Ok(())
        };
        for m in msgs {
            let v = values[m as usize].expect("framed values are present");
            match feed(&mut dec, v) {
                Ok(()) => run.push(m),
                Err(reason) => {
                    d.rejects.push((m, reason));
                    dec = build().expect("it built before");
                    for r in &run {
                        let v = values[*r as usize].expect("framed values are present");
                        feed(&mut dec, v).expect("decoded before with a fresh decoder");
                    }
                }
            }
            if run.len() >= AVRO_RUN
                && let Err(e) = flush(&mut dec, &mut run, &mut d)
            {
                for r in run.drain(..) {
                    d.rejects
                        .push((r, format!("Avro batch for schema id {id}: {e}")));
                }
                dec = build().expect("it built before");
            }
        }
        if let Err(e) = flush(&mut dec, &mut run, &mut d) {
            for r in run.drain(..) {
                d.rejects
                    .push((r, format!("Avro batch for schema id {id}: {e}")));
            }
        }
    }
    d.groups.extend(tombstones(values));
    d
}

/// A column type Delta can store: Avro enums (dictionaries) as text, fixed as binary,
/// millisecond times and timestamps as microseconds, nested types field by field.
pub fn delta_type(t: &DataType) -> DataType {
    use datafusion::arrow::datatypes::TimeUnit;
    match t {
        DataType::Dictionary(_, v) => delta_type(v),
        DataType::FixedSizeBinary(_) | DataType::LargeBinary | DataType::BinaryView => {
            DataType::Binary
        }
        DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
        // Delta's `timestamp` is an instant, named "UTC" (Avro's "+00:00" is the same).
        DataType::Timestamp(_, Some(_)) => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        DataType::Timestamp(_, None) => DataType::Timestamp(TimeUnit::Microsecond, None),
        DataType::UInt8 | DataType::UInt16 => DataType::Int32,
        DataType::UInt32 | DataType::UInt64 => DataType::Int64,
        DataType::Float16 => DataType::Float32,
        DataType::Time32(_)
        | DataType::Time64(_)
        | DataType::Interval(_)
        | DataType::Duration(_)
        | DataType::Date64 => DataType::Utf8,
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            DataType::List(Arc::new(delta_field(f)))
        }
        DataType::Struct(fs) => DataType::Struct(fs.iter().map(|f| delta_field(f)).collect()),
        DataType::Map(f, sorted) => DataType::Map(Arc::new(delta_field(f)), *sorted),
        other => other.clone(),
    }
}

fn delta_field(f: &Field) -> Field {
    f.clone().with_data_type(delta_type(f.data_type()))
}

/// Unreadable-by-Delta types the cast cannot convert: the reason, for a dead letter.
pub fn unsupported(t: &DataType) -> Option<String> {
    match t {
        DataType::Union(..) => Some(
            "an Avro union of several non-null types has no Delta type (make it one type \
             and null)"
                .into(),
        ),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            unsupported(f.data_type())
        }
        DataType::Struct(fs) => fs.iter().find_map(|f| unsupported(f.data_type())),
        DataType::Map(f, _) => unsupported(f.data_type()),
        DataType::Dictionary(_, v) => unsupported(v),
        _ => None,
    }
}
