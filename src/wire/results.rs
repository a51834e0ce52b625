//! Rendering the core's outcomes as Postgres messages: row descriptions, data rows in text or
//! binary, ParameterStatus, notices and the transaction status.

use std::fmt::Debug;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use futures::{Sink, SinkExt, StreamExt, stream};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo, QueryResponse};
use pgwire::error::ErrorInfo;
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::response::{NoticeResponse, TransactionStatus};
use pgwire::messages::startup::ParameterStatus;

use super::connection::Connection;
use super::encode::encode_batch;
use super::error::to_pgwire;
use crate::engine::pg_types::pg_type;
use crate::engine::run::conform;
use crate::engine::{Outcome, Rows, Transaction};

/// Per-column formats; a single code applies to every column (protocol rule).
pub(super) fn formats(format: &Format, n: usize) -> Vec<FieldFormat> {
    match format {
        Format::UnifiedText => vec![FieldFormat::Text; n],
        Format::UnifiedBinary => vec![FieldFormat::Binary; n],
        Format::Individual(codes) if codes.len() == 1 => vec![FieldFormat::from(codes[0]); n],
        Format::Individual(codes) => (0..n)
            .map(|i| {
                codes
                    .get(i)
                    .map(|c| FieldFormat::from(*c))
                    .unwrap_or(FieldFormat::Text)
            })
            .collect(),
    }
}

pub(super) fn type_size(t: &Type) -> i16 {
    match *t {
        Type::BOOL => 1,
        Type::INT2 => 2,
        Type::INT4 | Type::FLOAT4 | Type::DATE => 4,
        Type::INT8 | Type::FLOAT8 | Type::TIMESTAMP | Type::TIMESTAMPTZ | Type::TIME => 8,
        Type::INTERVAL | Type::UUID => 16,
        _ => -1,
    }
}

pub(super) fn field_infos(schema: &Schema, formats: &[FieldFormat]) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .zip(formats)
        .map(|(f, fmt)| {
            let (t, typmod) = pg_type(f);
            let size = type_size(&t);
            FieldInfo::new(f.name().clone(), None, None, t, *fmt)
                .with_type_modifier(typmod)
                .with_type_size(size)
        })
        .collect()
}

/// Encodes a query's rows as DataRows as the client reads them (the core's stream stops with
/// 57014 when the query is canceled or times out).
pub(super) fn query_response(
    schema: SchemaRef,
    rows: Rows,
    formats: Vec<FieldFormat>,
    tag: &str,
) -> QueryResponse {
    let fields = Arc::new(field_infos(&schema, &formats));
    let target = schema.clone();
    let rows = rows.flat_map(move |batch| {
        let result = batch.and_then(|b| conform(b, &target)).and_then(|b| {
            let mut out = Vec::with_capacity(b.num_rows());
            encode_batch(&b, &formats, &mut out)?;
            Ok(out)
        });
        match result {
            Ok(rows) => stream::iter(rows.into_iter().map(Ok)).left_stream(),
            Err(e) => stream::iter(vec![Err(to_pgwire(e, None))]).right_stream(),
        }
    });
    let mut response = QueryResponse::new(fields, rows);
    response.set_command_tag(tag);
    response
}

impl Connection {
    /// Says what the core's outcome tells the client before its result: parameter changes
    /// (ParameterStatus) and notices.
    pub(super) async fn announce<C>(&self, client: &mut C, outcome: &mut Outcome)
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
    {
        report(client, std::mem::take(&mut outcome.reports)).await;
        for n in std::mem::take(&mut outcome.notices) {
            notice(client, n.severity, n.code, &n.message).await;
        }
    }
}

/// The core's transaction state as the Postgres wire says it, and back.
pub(super) fn wire_status(t: Transaction) -> TransactionStatus {
    match t {
        Transaction::Idle => TransactionStatus::Idle,
        Transaction::Open => TransactionStatus::Transaction,
        Transaction::Failed => TransactionStatus::Error,
    }
}

pub(super) fn core_transaction(s: TransactionStatus) -> Transaction {
    match s {
        TransactionStatus::Idle => Transaction::Idle,
        TransactionStatus::Transaction => Transaction::Open,
        TransactionStatus::Error => Transaction::Failed,
    }
}

pub(super) async fn report<C>(client: &mut C, reports: Vec<(String, String)>)
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
{
    for (k, v) in reports {
        let _ = client
            .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                k, v,
            )))
            .await;
    }
}

pub(super) async fn notice<C>(client: &mut C, severity: &str, code: &str, message: &str)
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
{
    let info = ErrorInfo::new(severity.into(), code.into(), message.into());
    let _ = client
        .feed(PgWireBackendMessage::NoticeResponse(NoticeResponse::from(
            info,
        )))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field};

    #[test]
    fn one_format_code_applies_to_every_column() {
        assert_eq!(
            formats(&Format::Individual(vec![1]), 3),
            vec![FieldFormat::Binary; 3]
        );
        // Fewer codes than columns: the rest are text (what pgwire clients send).
        assert_eq!(
            formats(&Format::Individual(vec![1, 0]), 3),
            [FieldFormat::Binary, FieldFormat::Text, FieldFormat::Text]
        );
        assert_eq!(formats(&Format::UnifiedText, 2), vec![FieldFormat::Text; 2]);
        assert_eq!(formats(&Format::Individual(vec![]), 1), [FieldFormat::Text]);
    }

    #[test]
    fn row_descriptions_carry_postgres_types_sizes_and_typmods() {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("amount", DataType::Decimal128(12, 2), true),
            Field::new("name", DataType::Utf8, true),
        ]);
        let f = field_infos(&schema, &[FieldFormat::Text; 3]);
        let got: Vec<_> = f
            .iter()
            .map(|i| {
                (
                    i.name().to_string(),
                    i.datatype().oid(),
                    i.type_size(),
                    i.type_modifier(),
                )
            })
            .collect();
        // As PostgreSQL describes bigint, numeric(12,2) and text: typmod (12 << 16 | 2) + 4.
        assert_eq!(
            got,
            [
                ("id".to_string(), 20, 8, -1),
                ("amount".to_string(), 1700, -1, (12 << 16 | 2) + 4),
                ("name".to_string(), 25, -1, -1),
            ]
        );
    }

    #[test]
    fn transaction_states_round_trip() {
        for t in [Transaction::Idle, Transaction::Open, Transaction::Failed] {
            assert_eq!(core_transaction(wire_status(t)), t);
        }
    }
}
