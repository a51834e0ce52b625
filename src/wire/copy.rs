//! `COPY ... TO STDOUT`: CopyOutResponse, the rows as CopyData in Postgres' text, CSV or
//! binary COPY format (one message per batch, as they stream), CopyDone. The ADBC PostgreSQL
//! driver and connectorx read every result this way, psql's `\copy ... to` too.

use std::fmt::Debug;

use bytes::{BufMut, Bytes, BytesMut};
use datafusion::arrow::array::{Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::SchemaRef;
use futures::{Sink, SinkExt, StreamExt};
use pgwire::api::results::FieldFormat;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyOutResponse};

use super::encode::{EncodeError, encode_batch, text_column};
use super::error::to_pgwire;
use crate::engine::{CopyFormat, CopyKind, EngineError, Rows};

/// Binary COPY's signature, flags and header extension length.
const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Writes the COPY stream; returns how many rows it sent. An error mid-stream is returned
/// for the caller to send as an ErrorResponse, which ends COPY for the client.
pub(super) async fn send_copy<C>(
    client: &mut C,
    schema: SchemaRef,
    mut rows: Rows,
    format: &CopyFormat,
) -> PgWireResult<u64>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<C::Error>,
{
    let n = schema.fields().len();
    let binary = format.kind == CopyKind::Binary;
    let code = i16::from(binary);
    client
        .send(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(
            code as i8,
            n as i16,
            vec![code; n],
        )))
        .await?;
    // As Postgres does: one CopyData per row (tokio-postgres' binary reader needs that), the
    // binary header in front of the first row (or of the trailer), a header line on its own.
    let mut pending = BytesMut::new();
    if binary {
        pending.extend_from_slice(BINARY_HEADER);
    } else if format.header {
        let names: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| field_text(f.name(), format))
            .collect();
        let mut line = BytesMut::from(names.join(&format.delimiter.to_string()).as_bytes());
        line.put_u8(b'\n');
        client
            .feed(PgWireBackendMessage::CopyData(CopyData::new(line.freeze())))
            .await?;
    }
    let mut sent = 0u64;
    while let Some(batch) = rows.next().await {
        let batch = batch.map_err(|e| to_pgwire(e, None))?;
        let lines = if binary {
            binary_rows(&batch)
        } else {
            text_rows(&batch, format)
        }
        .map_err(|e| to_pgwire(EngineError::from(e), None))?;
        sent += lines.len() as u64;
        for line in lines {
            let data = if pending.is_empty() {
                line
            } else {
                pending.extend_from_slice(&line);
                std::mem::take(&mut pending).freeze()
            };
            client
                .feed(PgWireBackendMessage::CopyData(CopyData::new(data)))
                .await?;
        }
        client.flush().await?;
    }
    if binary {
        pending.extend_from_slice(b"\xff\xff");
        client
            .feed(PgWireBackendMessage::CopyData(CopyData::new(
                pending.freeze(),
            )))
            .await?;
    }
    client
        .feed(PgWireBackendMessage::CopyDone(CopyDone::new()))
        .await?;
    Ok(sent)
}

/// Binary COPY tuples, one per row: a field count, then each field as a length and its
/// binary form — the same bytes as a binary DataRow's.
fn binary_rows(batch: &RecordBatch) -> Result<Vec<Bytes>, EncodeError> {
    let mut data_rows = Vec::with_capacity(batch.num_rows());
    encode_batch(
        batch,
        &vec![FieldFormat::Binary; batch.num_columns()],
        &mut data_rows,
    )?;
    Ok(data_rows
        .into_iter()
        .map(|r| {
            let mut out = BytesMut::with_capacity(r.data.len() + 2);
            out.put_i16(r.field_count);
            out.extend_from_slice(&r.data);
            out.freeze()
        })
        .collect())
}

/// Text or CSV lines, one per row, each value in Postgres' text form.
fn text_rows(batch: &RecordBatch, format: &CopyFormat) -> Result<Vec<Bytes>, EncodeError> {
    let schema = batch.schema();
    let columns: Vec<StringArray> = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| text_column(c, f))
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let mut line = String::new();
        for (i, c) in columns.iter().enumerate() {
            if i > 0 {
                line.push(format.delimiter);
            }
            if c.is_null(row) {
                line.push_str(&format.null);
            } else {
                line.push_str(&field_text(c.value(row), format));
            }
        }
        line.push('\n');
        out.push(Bytes::from(line));
    }
    Ok(out)
}

/// One value as COPY writes it: text format escapes backslash, the delimiter and control
/// characters; CSV quotes a value holding the delimiter, the quote, a line break, or equal to
/// the NULL string.
fn field_text(v: &str, format: &CopyFormat) -> String {
    match format.kind {
        CopyKind::Csv => {
            let needs = v.is_empty() && format.null.is_empty()
                || v == format.null
                || v.contains(format.delimiter)
                || v.contains(format.quote)
                || v.contains(['\n', '\r']);
            if !needs {
                return v.to_string();
            }
            let mut out = String::with_capacity(v.len() + 2);
            out.push(format.quote);
            for ch in v.chars() {
                if ch == format.quote || ch == format.escape {
                    out.push(format.escape);
                }
                out.push(ch);
            }
            out.push(format.quote);
            out
        }
        _ => {
            let mut out = String::with_capacity(v.len());
            for ch in v.chars() {
                match ch {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    '\u{b}' => out.push_str("\\v"),
                    c if c == format.delimiter => {
                        out.push('\\');
                        out.push(c);
                    }
                    c => out.push(c),
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(kind: CopyKind) -> CopyFormat {
        let csv = kind == CopyKind::Csv;
        CopyFormat {
            kind,
            delimiter: if csv { ',' } else { '\t' },
            null: if csv { String::new() } else { "\\N".into() },
            header: false,
            quote: '"',
            escape: '"',
        }
    }

    #[test]
    fn values_are_escaped_as_postgres_copy_does() {
        let text = format(CopyKind::Text);
        assert_eq!(field_text("a\tb\\c\nd", &text), "a\\tb\\\\c\\nd");
        let csv = format(CopyKind::Csv);
        assert_eq!(field_text("plain", &csv), "plain");
        assert_eq!(field_text("a,b", &csv), "\"a,b\"");
        assert_eq!(field_text("say \"hi\"", &csv), "\"say \"\"hi\"\"\"");
        // An empty string is quoted so it is not read back as NULL.
        assert_eq!(field_text("", &csv), "\"\"");
    }
}
