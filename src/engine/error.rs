//! The engine's errors, each with the SQLSTATE it carries to every door (the Postgres wire,
//! the HTTP API, Flight SQL).
//!
//! Codes follow <https://www.postgresql.org/docs/current/errcodes-appendix.html>. DataFusion
//! reports most user mistakes as plan or schema errors with a message; those are told apart by
//! variant first and by message second, so a user's mistake never becomes XX000.

use datafusion::arrow::error::ArrowError;
use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;

use super::MAX_SUBQUERY_DEPTH;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Syntax(#[from] ParserError),
    #[error("{0}")]
    DataFusion(#[from] DataFusionError),
    /// A statement that would write or touch files; clients are read-only.
    #[error("cannot execute {0} in a read-only transaction")]
    ReadOnly(String),
    /// Reading or writing server files, or other privileged operations.
    #[error("permission denied: {0}")]
    Forbidden(String),
    #[error("unrecognized configuration parameter \"{0}\"")]
    UnknownSetting(String),
    #[error("invalid value for parameter \"{name}\": \"{value}\"")]
    InvalidSetting { name: String, value: String },
    #[error("{0} is not supported")]
    Unsupported(String),
    #[error("cannot insert multiple commands into a prepared statement")]
    MultipleStatements,
    #[error("current transaction is aborted, commands ignored until end of transaction block")]
    TransactionAborted,
    #[error("database \"{0}\" does not exist")]
    UnknownDatabase(String),
    #[error("canceling statement due to user request")]
    Canceled,
    #[error("canceling statement due to statement timeout")]
    StatementTimeout,
    #[error("query text of {len} bytes is longer than limits.max_query_bytes ({max})")]
    QueryTooLong { len: usize, max: u64 },
    #[error(
        "statement too complex: subquery expressions nested {depth} deep (at most {MAX_SUBQUERY_DEPTH})"
    )]
    TooDeeplyNested { depth: usize },
    #[error("{0}")]
    InvalidParameter(String),
    #[error("cursor \"{0}\" does not exist")]
    UnknownCursor(String),
    #[error("cursor \"{0}\" already exists")]
    DuplicateCursor(String),
    #[error("cursor \"{0}\" is in use (a FETCH of it is still streaming)")]
    CursorInUse(String),
    /// A value with no form in the client's encoding (told by the door that encodes it).
    #[error("{0}")]
    Unencodable(String),
    /// A value outside the range its Postgres type can carry (timestamps past year 294276).
    #[error("{0}")]
    ValueOutOfRange(String),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlState {
    Warning,
    ActiveSqlTransaction,
    NoActiveSqlTransaction,
    InvalidAuthorization,
    InvalidPassword,
    TooManyConnections,
    FeatureNotSupported,
    InvalidTransactionState,
    ReadOnlySqlTransaction,
    InFailedSqlTransaction,
    SyntaxError,
    InsufficientPrivilege,
    UndefinedTable,
    UndefinedColumn,
    UndefinedFunction,
    UndefinedObject,
    UndefinedParameter,
    AmbiguousColumn,
    DuplicateAlias,
    DatatypeMismatch,
    GroupingError,
    InvalidParameterValue,
    DataException,
    DivisionByZero,
    NumericValueOutOfRange,
    InvalidTextRepresentation,
    InvalidDatetimeFormat,
    DatetimeFieldOverflow,
    ProtocolViolation,
    InvalidCursorName,
    DuplicateCursor,
    ObjectInUse,
    InvalidCatalogName,
    QueryCanceled,
    ProgramLimitExceeded,
    StatementTooComplex,
    OutOfMemory,
    DiskFull,
    IoError,
    InvalidSchemaName,
    DataCorrupted,
    InternalError,
}

impl SqlState {
    pub fn code(self) -> &'static str {
        match self {
            SqlState::Warning => "01000",
            SqlState::ActiveSqlTransaction => "25001",
            SqlState::NoActiveSqlTransaction => "25P01",
            SqlState::InvalidAuthorization => "28000",
            SqlState::InvalidPassword => "28P01",
            SqlState::TooManyConnections => "53300",
            SqlState::FeatureNotSupported => "0A000",
            SqlState::InvalidTransactionState => "25000",
            SqlState::ReadOnlySqlTransaction => "25006",
            SqlState::InFailedSqlTransaction => "25P02",
            SqlState::SyntaxError => "42601",
            SqlState::InsufficientPrivilege => "42501",
            SqlState::UndefinedTable => "42P01",
            SqlState::UndefinedColumn => "42703",
            SqlState::UndefinedFunction => "42883",
            SqlState::UndefinedObject => "42704",
            SqlState::UndefinedParameter => "42P02",
            SqlState::AmbiguousColumn => "42702",
            SqlState::DuplicateAlias => "42712",
            SqlState::DatatypeMismatch => "42804",
            SqlState::GroupingError => "42803",
            SqlState::InvalidParameterValue => "22023",
            SqlState::DataException => "22000",
            SqlState::DivisionByZero => "22012",
            SqlState::NumericValueOutOfRange => "22003",
            SqlState::InvalidTextRepresentation => "22P02",
            SqlState::InvalidDatetimeFormat => "22007",
            SqlState::DatetimeFieldOverflow => "22008",
            SqlState::ProtocolViolation => "08P01",
            SqlState::InvalidCursorName => "34000",
            SqlState::DuplicateCursor => "42P03",
            SqlState::ObjectInUse => "55006",
            SqlState::InvalidCatalogName => "3D000",
            SqlState::QueryCanceled => "57014",
            SqlState::ProgramLimitExceeded => "54000",
            SqlState::StatementTooComplex => "54001",
            SqlState::OutOfMemory => "53200",
            SqlState::DiskFull => "53100",
            SqlState::IoError => "58030",
            SqlState::InvalidSchemaName => "3F000",
            SqlState::DataCorrupted => "XX001",
            SqlState::InternalError => "XX000",
        }
    }
}

/// SQLSTATE of an engine error.
pub fn sqlstate(e: &EngineError) -> SqlState {
    match e {
        EngineError::Syntax(
            datafusion::sql::sqlparser::parser::ParserError::RecursionLimitExceeded,
        ) => SqlState::StatementTooComplex,
        EngineError::Syntax(_) => SqlState::SyntaxError,
        EngineError::QueryTooLong { .. } => SqlState::ProgramLimitExceeded,
        EngineError::TooDeeplyNested { .. } => SqlState::StatementTooComplex,
        EngineError::DataFusion(df) => datafusion_state(df),
        EngineError::ReadOnly(_) => SqlState::ReadOnlySqlTransaction,
        EngineError::Forbidden(_) => SqlState::InsufficientPrivilege,
        EngineError::UnknownSetting(_) => SqlState::UndefinedObject,
        EngineError::InvalidSetting { .. } => SqlState::InvalidParameterValue,
        EngineError::Unsupported(_) => SqlState::FeatureNotSupported,
        EngineError::MultipleStatements => SqlState::SyntaxError,
        EngineError::TransactionAborted => SqlState::InFailedSqlTransaction,
        EngineError::UnknownDatabase(_) => SqlState::InvalidCatalogName,
        EngineError::Canceled | EngineError::StatementTimeout => SqlState::QueryCanceled,
        EngineError::InvalidParameter(_) => SqlState::InvalidTextRepresentation,
        EngineError::ValueOutOfRange(_) => SqlState::DatetimeFieldOverflow,
        EngineError::Unencodable(_) => SqlState::FeatureNotSupported,
        EngineError::UnknownCursor(_) => SqlState::InvalidCursorName,
        EngineError::DuplicateCursor(_) => SqlState::DuplicateCursor,
        EngineError::CursorInUse(_) => SqlState::ObjectInUse,
    }
}

fn datafusion_state(e: &DataFusionError) -> SqlState {
    match e {
        DataFusionError::SQL(_, _) => SqlState::SyntaxError,
        DataFusionError::SchemaError(s, _) => match s.as_ref() {
            SchemaError::FieldNotFound { .. } => SqlState::UndefinedColumn,
            SchemaError::AmbiguousReference { .. } => SqlState::AmbiguousColumn,
            SchemaError::DuplicateQualifiedField { .. }
            | SchemaError::DuplicateUnqualifiedField { .. } => SqlState::DuplicateAlias,
        },
        DataFusionError::ArrowError(a, _) => arrow_state(a),
        DataFusionError::NotImplemented(_) => SqlState::FeatureNotSupported,
        DataFusionError::ResourcesExhausted(_) => SqlState::OutOfMemory,
        DataFusionError::IoError(_) | DataFusionError::ObjectStore(_) => SqlState::IoError,
        DataFusionError::ParquetError(_) => SqlState::IoError,
        DataFusionError::Context(_, inner) => datafusion_state(inner),
        DataFusionError::Shared(inner) => datafusion_state(inner),
        DataFusionError::Diagnostic(_, inner) => datafusion_state(inner),
        DataFusionError::Collection(errs) => errs
            .first()
            .map(datafusion_state)
            .unwrap_or(SqlState::InternalError),
        DataFusionError::Plan(m) => plan_message_state(m),
        DataFusionError::Execution(m) => execution_message_state(m),
        DataFusionError::ExecutionJoin(_) => SqlState::InternalError,
        DataFusionError::External(inner) => {
            if inner
                .downcast_ref::<crate::engine::access::PermissionDenied>()
                .is_some()
            {
                SqlState::InsufficientPrivilege
            } else if inner
                .downcast_ref::<crate::catalog::travel::TravelError>()
                .is_some()
                || inner
                    .downcast_ref::<crate::engine::format::FormatError>()
                    .is_some()
            {
                SqlState::InvalidParameterValue
            } else if let Some(i) = inner.downcast_ref::<iceberg::Error>() {
                iceberg_state(i)
            } else if let Some(e) = inner.downcast_ref::<EngineError>() {
                sqlstate(e)
            } else if let Some(df) = inner.downcast_ref::<DataFusionError>() {
                datafusion_state(df)
            } else if let Some(a) = inner.downcast_ref::<ArrowError>() {
                arrow_state(a)
            } else {
                SqlState::InternalError
            }
        }
        DataFusionError::Configuration(_) => SqlState::InvalidParameterValue,
        // A FILTER (WHERE ...) that is not boolean reaches DataFusion's executor unchecked.
        DataFusionError::Internal(m) if m.contains("non-boolean predicate") => {
            SqlState::DatatypeMismatch
        }
        DataFusionError::Internal(_) => SqlState::InternalError,
        DataFusionError::Substrait(_) => SqlState::FeatureNotSupported,
        DataFusionError::Ffi(_) => SqlState::InternalError,
    }
}

fn plan_message_state(m: &str) -> SqlState {
    let l = m.to_ascii_lowercase();
    if l.contains("table function") && l.contains("not found") {
        SqlState::UndefinedFunction
    } else if l.contains("table") && (l.contains("not found") || l.contains("does not exist")) {
        SqlState::UndefinedTable
    } else if l.contains("invalid function")
        || l.contains("unknown function")
        || l.contains("no function matches")
        || l.contains("function") && l.contains("not found")
    {
        SqlState::UndefinedFunction
    } else if l.contains("cannot coerce arithmetic") {
        // Postgres: operator does not exist (`1 + 'x'::text`).
        SqlState::UndefinedFunction
    } else if l.contains("failed to coerce")
        || l.contains("cannot infer common")
        || l.contains("does not support")
        || l.contains("coercion")
        || l.contains("type mismatch")
    {
        SqlState::DatatypeMismatch
    } else if l.contains("group by") || l.contains("aggregate") {
        SqlState::GroupingError
    } else if l.contains("schema") && l.contains("not found") {
        SqlState::UndefinedObject
    } else if l.contains("placeholder") || l.contains("parameter") {
        SqlState::UndefinedParameter
    } else {
        SqlState::SyntaxError
    }
}

fn execution_message_state(m: &str) -> SqlState {
    let l = m.to_ascii_lowercase();
    if l.contains("divide by zero") || l.contains("division by zero") {
        SqlState::DivisionByZero
    } else if l.contains("overflow") {
        SqlState::NumericValueOutOfRange
    } else if l.contains("placeholder") && l.contains("not provided") {
        SqlState::UndefinedParameter
    } else if l.contains("cast") || l.contains("parse") {
        SqlState::InvalidTextRepresentation
    } else {
        SqlState::DataException
    }
}

fn arrow_state(a: &ArrowError) -> SqlState {
    match a {
        ArrowError::DivideByZero => SqlState::DivisionByZero,
        ArrowError::ArithmeticOverflow(_) => SqlState::NumericValueOutOfRange,
        ArrowError::CastError(m) | ArrowError::ParseError(m) => {
            let l = m.to_ascii_lowercase();
            if l.contains("timestamp") || l.contains("date") || l.contains("time") {
                SqlState::InvalidDatetimeFormat
            } else if l.contains("overflow")
                || l.contains("too large")
                || l.starts_with("can't cast value")
            {
                SqlState::NumericValueOutOfRange
            } else {
                SqlState::InvalidTextRepresentation
            }
        }
        ArrowError::ComputeError(_) | ArrowError::InvalidArgumentError(_) => {
            SqlState::DataException
        }
        ArrowError::MemoryError(_) => SqlState::OutOfMemory,
        ArrowError::IoError(..) => SqlState::IoError,
        ArrowError::ExternalError(inner) => {
            if let Some(i) = inner.downcast_ref::<iceberg::Error>() {
                iceberg_state(i)
            } else if let Some(df) = inner.downcast_ref::<DataFusionError>() {
                datafusion_state(df)
            } else {
                SqlState::InternalError
            }
        }
        ArrowError::NotYetImplemented(_) => SqlState::FeatureNotSupported,
        ArrowError::SchemaError(_) => SqlState::DatatypeMismatch,
        ArrowError::JsonError(_)
        | ArrowError::CsvError(_)
        | ArrowError::ParquetError(_)
        | ArrowError::AvroError(_)
        | ArrowError::IpcError(_)
        | ArrowError::CDataInterface(_)
        | ArrowError::DictionaryKeyOverflowError
        | ArrowError::RunEndIndexOverflowError
        | ArrowError::OffsetOverflowError(_) => SqlState::InternalError,
    }
}

/// A failure inside iceberg-rust, by kind. Its messages are the crate's own ("DataInvalid =>
/// Column x not found in table. Schema: table { ... }"); the kind and the message's start tell
/// a user's mistake from an unreadable table.
fn iceberg_state(e: &iceberg::Error) -> SqlState {
    use iceberg::ErrorKind as K;
    // A wrapped failure (the Parquet reader's, around lakegate's storage IO) is classified by
    // the innermost iceberg error: a missing file is 58030, not a corrupt one.
    if let Some(inner) = inner_iceberg(e) {
        return iceberg_state(inner);
    }
    let m = e.message();
    match e.kind() {
        K::TableNotFound => SqlState::UndefinedTable,
        K::NamespaceNotFound => SqlState::InvalidSchemaName,
        K::FeatureUnsupported => SqlState::FeatureNotSupported,
        K::DataInvalid if m.starts_with("Column ") && m.contains("not found") => {
            SqlState::UndefinedColumn
        }
        K::DataInvalid
            if m.to_ascii_lowercase().contains("snapshot") && m.contains("not found") =>
        {
            SqlState::InvalidParameterValue
        }
        // Metadata or a data file that does not parse.
        K::DataInvalid => SqlState::DataCorrupted,
        K::Unexpected if m.contains("Parquet") => SqlState::DataCorrupted,
        // Storage: a file that cannot be read (lakegate's object-store IO reports these).
        K::Unexpected => SqlState::IoError,
        _ => SqlState::InternalError,
    }
}

/// The innermost iceberg error in `e`'s source chain (through ParquetError::External), if
/// there is one besides `e`.
fn inner_iceberg(e: &iceberg::Error) -> Option<&iceberg::Error> {
    let mut found = None;
    let mut next = std::error::Error::source(e);
    while let Some(s) = next {
        if let Some(i) = s.downcast_ref::<iceberg::Error>() {
            found = Some(i);
        }
        next = s.source();
    }
    found
}

/// The iceberg-rust failure at the root of `e`, if it is one.
fn iceberg_error(e: &DataFusionError) -> Option<&iceberg::Error> {
    match e.find_root() {
        DataFusionError::External(inner) => inner.downcast_ref::<iceberg::Error>(),
        DataFusionError::ArrowError(a, _) => match a.as_ref() {
            ArrowError::ExternalError(inner) => inner.downcast_ref::<iceberg::Error>(),
            _ => None,
        },
        _ => None,
    }
}

/// One line for the client: the message without the schema dump iceberg appends, and the
/// source's first line. The whole error (context, source chain) goes to the log.
fn iceberg_message(e: &iceberg::Error) -> String {
    tracing::warn!(error = %e, "iceberg read failed");
    one_line(e)
}

fn one_line(e: &iceberg::Error) -> String {
    if let Some(inner) = inner_iceberg(e) {
        return format!("{}: {}", e.message(), one_line(inner));
    }
    let m = e.message();
    let m = m.split(". Schema:").next().unwrap_or(m);
    let mut out = m.lines().next().unwrap_or("").trim().to_string();
    if let Some(source) = std::error::Error::source(e) {
        let s = source.to_string();
        if let Some(first) = s.lines().next()
            && !out.contains(first)
        {
            out.push_str(": ");
            out.push_str(first);
        }
    }
    out
}

/// Message a client sees: DataFusion's own prefixes ("Error during planning: ") stripped.
pub fn client_message(e: &EngineError) -> String {
    match e {
        EngineError::DataFusion(df) if iceberg_error(df).is_some() => {
            iceberg_message(iceberg_error(df).expect("checked"))
        }
        EngineError::DataFusion(df) => {
            let root = df.find_root();
            let msg = root.to_string();
            for prefix in [
                "Error during planning: ",
                "Execution error: ",
                "Schema error: ",
                "This feature is not implemented: ",
                "SQL error: ",
                "Arrow error: ",
                "Invalid argument error: ",
                "Parser error: ",
                "Cast error: ",
                "External error: ",
                "Resources exhausted: ",
            ] {
                if let Some(rest) = msg.strip_prefix(prefix) {
                    return rest.to_string();
                }
            }
            msg
        }
        EngineError::Syntax(p) => {
            let m = p.to_string();
            m.strip_prefix("sql parser error: ")
                .unwrap_or(&m)
                .to_string()
        }
        other => other.to_string(),
    }
}

/// 1-based character position of the error in the query, where the parser told us.
pub fn position(e: &EngineError, sql: Option<&str>) -> Option<String> {
    let sql = sql?;
    let msg = match e {
        EngineError::Syntax(p) => p.to_string(),
        EngineError::DataFusion(DataFusionError::SQL(p, _)) => p.to_string(),
        _ => return None,
    };
    // sqlparser appends "at Line: L, Column: C".
    let at = msg.rfind("Line: ")?;
    let rest = &msg[at + 6..];
    let (line, rest) = rest.split_once(", Column: ")?;
    let line: usize = line.trim().parse().ok()?;
    let col: usize = rest
        .trim()
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()?;
    let mut offset = 0;
    for (i, l) in sql.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return Some((sql[..offset].chars().count() + col).to_string());
        }
        offset += l.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a client is told of `e`: its SQLSTATE and message.
    struct Told {
        code: String,
        message: String,
    }

    fn error_info(e: &EngineError, _sql: Option<&str>) -> Told {
        Told {
            code: sqlstate(e).code().to_string(),
            message: client_message(e),
        }
    }

    #[test]
    fn user_mistakes_are_not_internal_errors() {
        let cases = [
            (
                DataFusionError::Plan("table 'lake.silver.nope' not found".into()),
                "42P01",
            ),
            (
                DataFusionError::Plan("Invalid function 'nope'.\nDid you mean 'now'?".into()),
                "42883",
            ),
            (
                DataFusionError::ArrowError(Box::new(ArrowError::DivideByZero), None),
                "22012",
            ),
            (DataFusionError::NotImplemented("x".into()), "0A000"),
            // As PostgreSQL 15 answers: no parameter $1, operator does not exist.
            (
                DataFusionError::Execution(
                    "Placeholder '$1' was not provided a value for execution.".into(),
                ),
                "42P02",
            ),
            (
                DataFusionError::Plan(
                    "Cannot coerce arithmetic expression Int64 + Utf8View to valid types".into(),
                ),
                "42883",
            ),
        ];
        for (e, code) in cases {
            assert_eq!(sqlstate(&EngineError::DataFusion(e)).code(), code);
        }
        assert_eq!(
            sqlstate(&EngineError::ReadOnly("INSERT".into())).code(),
            "25006"
        );
    }

    #[test]
    fn iceberg_failures_have_their_own_states_and_one_line() {
        use iceberg::{Error, ErrorKind};
        let cases = [
            (
                (
                    ErrorKind::DataInvalid,
                    "Column remark not found in table. Schema: table {\n  1: id: optional long\n}",
                    None,
                ),
                "42703",
                "Column remark not found in table",
            ),
            (
                (
                    ErrorKind::DataInvalid,
                    "Snapshot with id 42 not found",
                    None,
                ),
                "22023",
                "Snapshot with id 42 not found",
            ),
            (
                (
                    ErrorKind::Unexpected,
                    "file:///w/data/a.parquet: not found",
                    None,
                ),
                "58030",
                "file:///w/data/a.parquet: not found",
            ),
            (
                (
                    ErrorKind::Unexpected,
                    "Failed to load Parquet metadata",
                    Some("EOF: file size of 3 is less than footer"),
                ),
                "XX001",
                "Failed to load Parquet metadata: EOF: file size of 3 is less than footer",
            ),
            (
                (ErrorKind::FeatureUnsupported, "Nested field x", None),
                "0A000",
                "Nested field x",
            ),
        ];
        for ((kind, text, source), code, message) in cases {
            let e = || {
                let e = Error::new(kind, text);
                match source {
                    Some(s) => e.with_source(std::io::Error::other(s)),
                    None => e,
                }
            };
            // As iceberg-datafusion reports them: plain, and through an Arrow stream.
            for df in [
                DataFusionError::External(Box::new(e())),
                DataFusionError::ArrowError(
                    Box::new(ArrowError::ExternalError(Box::new(e()))),
                    None,
                ),
            ] {
                let info = error_info(&EngineError::DataFusion(df), None);
                assert_eq!((info.code.as_str(), info.message.as_str()), (code, message));
            }
        }
        // A missing file, as the Parquet reader wraps lakegate's storage error: 58030.
        let gone = Error::new(ErrorKind::Unexpected, "Failed to load Parquet metadata")
            .with_source(datafusion::parquet::errors::ParquetError::External(
                Box::new(Error::new(
                    ErrorKind::Unexpected,
                    "file:///w/a.parquet: not found",
                )),
            ));
        let info = error_info(
            &EngineError::DataFusion(DataFusionError::External(Box::new(gone))),
            None,
        );
        assert_eq!(
            (info.code.as_str(), info.message.as_str()),
            (
                "58030",
                "Failed to load Parquet metadata: file:///w/a.parquet: not found"
            )
        );
    }
}
